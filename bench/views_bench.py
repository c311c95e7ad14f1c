"""Training views: cost per image of tiling and rescaling at MoNuSeg size, and the no-view path.

    python bench/views_bench.py [--repeat 5]

A generated 1000 x 1000 RGB image with ~400 nuclei (ellipses, some overlapping, as a mask
stack like MoNuSeg's overlapping polygons, and as a label map like ISBI / BBBC):

1. the transform alone (Sample -> view Samples with RLE objects; no PNG encoding):
   tiles 256 (stride 256 and 128), rescale x0.5, rescale x0.5 + tiles 256;
2. the whole record path (transform + ``schema.to_record``, i.e. PNG encoding of every
   tile) next to the record of the untouched image.

Without a view nothing is wrapped (``prepare`` returns the reader itself; tested), so the
no-view path costs nothing extra.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of  # bench/timing.py (run as a script)

from nuclei_collection_builders import schema
from nuclei_collection_builders.app.synthetic import ellipse_masks, render
from nuclei_collection_builders.base import Sample
from nuclei_collection_builders.views import ViewSpec

SIZE = 1000
NUCLEI = 400


def samples() -> dict[str, Sample]:
    rng = np.random.default_rng(0)
    masks = ellipse_masks(rng, SIZE, SIZE, NUCLEI, overlap_pairs=20)
    pixels = render(rng, masks, "histology")
    label_map = np.zeros((SIZE, SIZE), dtype=np.int32)
    for index, mask in enumerate(masks, 1):
        label_map[mask] = index
    base = {"image_id": "bench", "image": pixels, "metadata": {"mpp": 0.25}}
    # Ready RLE objects (the form a view receives after the first transform, and MoNuSeg's).
    return {
        f"{len(masks)} overlapping objects (RLE)": Sample(
            **base, objects=schema.sample_objects(Sample(**base, masks=masks))
        ),
        "label map": Sample(**base, label_map=label_map),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    views = {
        "tiles 256": {"tile": 256},
        "tiles 256 stride 128": {"tile": 256, "stride": 128},
        "scale 0.5": {"scale": 0.5},
        "target mpp 0.5 + tiles 256": {"target_mpp": 0.5, "tile": 256},
    }
    for label, sample in samples().items():
        print(f"{SIZE}x{SIZE}, {label}:")
        whole = best_of(repeat, lambda sample=sample: schema.to_record(sample))
        print(f"  record of the whole image (PNG encode + RLE): {whole * 1e3:7.1f} ms")
        for name, settings in views.items():
            spec = ViewSpec.of(settings)
            transform = best_of(repeat, lambda spec=spec, sample=sample: list(spec.transform(sample, "bench")))
            records = best_of(
                repeat, lambda spec=spec, sample=sample: [schema.to_record(s) for s in spec.transform(sample, "bench")]
            )
            count = len(list(spec.transform(sample, "bench")))
            print(f"  {name:<28} transform {transform * 1e3:7.1f} ms, with records {records * 1e3:7.1f} ms ({count})")


if __name__ == "__main__":
    main()
