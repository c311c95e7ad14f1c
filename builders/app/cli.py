"""The ``nuclei-collection`` command line. Each sub-command is a thin wrapper.

This module is the console entry point: ``--help`` and ``list`` must start fast, so the
heavy modules (datasets, pyarrow, scipy, pandas, torch: readers, schema, exporters,
evaluation) are imported inside the commands that use them, never at the top.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from ..base import NucleiCollectionError, logger

#: views.tiles.DEFAULT_MIN_AREA, for the ``--min-area`` help only (importing views pulls in
#: scipy; tests/test_cli_robustness.py checks the two agree)
DEFAULT_MIN_AREA = 16


def parse_options(pairs: Sequence[str], configs: Sequence[str] = ()) -> dict[str, Any]:
    """``["labels=csv", "z=16"]`` -> ``{"labels": "csv", "z": 16}``.

    Numbers are converted (``z=16``, ``fold=1``, ``tile_size=1024``, ``val_fraction=0.2``)
    except for options of ``configs`` whose values are text: the reader's default is a bool
    (``option_bool`` reads the words) or itself a numeral string, which marks an option
    whose choices are strings that look like numbers (CryoNuSeg ``annotator`` "1" /
    "1-round2" / "2"). Unknown config names (exported names) give the plain conversion.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        options[key] = value if _text_option(key, configs) else _number_or_text(value)
    return options


def _number_or_text(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def _text_option(key: str, configs: Sequence[str]) -> bool:
    """Whether option ``key`` of ``configs`` takes its command-line text as it is (see parse_options)."""
    from ..sources import CONFIG_SPECS

    for name in configs:
        spec = CONFIG_SPECS.get(name)
        if spec is None or key not in spec.source.default_options:
            continue
        default = spec.source.default_options[key]
        return isinstance(default, bool) or (isinstance(default, str) and _number_or_text(default) != default)
    return False


def positive_int(text: str) -> int:
    """argparse type of counts that must be at least 1 (``--num-proc 0`` is a mistake, not "auto")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def config_name(text: str) -> str:
    """argparse type of a config name: unknown names get "did you mean" (sources.get_spec)."""
    from ..sources import get_spec

    try:
        get_spec(text)
    except KeyError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _cmd_build(args: argparse.Namespace) -> int:
    from ..exporters.build import build
    from ..schema import COUNT_NOUN

    reports = build(
        args.configs,
        data_dir=args.data_dir,
        out=args.out,
        num_proc=args.num_proc,
        num_shards=args.num_shards,
        max_shard_size=args.max_shard_size,
        options=parse_options(args.option, args.configs),
        cache_dir=args.cache_dir,
        view=view_of_args(args),
    )
    for report in reports:
        if report.view:
            print(f"{report.name}: view of {report.view['of']} ({report.view['description']})")
        for split, stats in report.splits.items():
            skipped = f", {len(stats['skipped'])} skipped" if stats["skipped"] else ""
            counted = "".join(f", {kind} {n}" for kind, n in stats["counts"].items())
            print(
                f"{report.name}/{split}: {stats['records']} images, "
                f"{stats['objects']} {COUNT_NOUN[report.source['kind']]}, "
                f"{len(stats['shards'])} shard(s){skipped}{counted}"
            )
    print(f"wrote {args.out}")
    return 0


def view_of_args(args: argparse.Namespace) -> dict[str, Any]:
    """The training-view flags of ``build`` (docs/views.md) as view settings."""
    return {
        "tile": args.tile,
        "stride": args.stride,
        "min_area": args.min_area,
        "target_mpp": args.target_mpp,
        "scale": args.scale,
    }


def _cmd_export_coco(args: argparse.Namespace) -> int:
    from ..exporters.coco import export_coco

    result = export_coco(
        args.config,
        out=args.out,
        data_dir=args.data_dir,
        options=parse_options(args.option, [args.config]),
        cache_dir=args.cache_dir,
        name=args.name,
    )
    splits = ", ".join(f"{split}: {count}" for split, count in result.splits.items())
    print(f"{result.name}: {result.images} images ({splits}), {result.annotations} annotations")
    print(f"wrote {result.json_path} and {result.image_dir}/")
    if result.max_nuclei_per_image > COCO_DEFAULT_MAX_DETS:
        print(
            f"note: up to {result.max_nuclei_per_image} nuclei per image: COCOeval's default maxDets (100) "
            f"would cut the scores; set E.params.maxDets = [1, 10, {result.max_nuclei_per_image}] (docs/coco.md)"
        )
    return 0


#: pycocotools COCOeval's largest default maxDets
COCO_DEFAULT_MAX_DETS = 100


def _cmd_export_imagemask(args: argparse.Namespace) -> int:
    from ..exporters.imagemask import export_imagemask

    manifest = export_imagemask(
        args.config,
        args.out,
        data_dir=args.data_dir,
        split=args.split,
        seed=args.seed,
        mask=args.mask,
        options=parse_options(args.option, [args.config]),
        cache_dir=args.cache_dir,
    )
    for folder, stats in manifest["folders"].items():
        print(f"{args.config} -> {folder}: {stats['images']} images, {stats['objects']} nuclei")
    print(f"wrote {args.out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run

    run(out=args.out, raw=args.raw, preview=args.preview, n_images=args.images, seed=args.seed, num_proc=args.num_proc)
    return 0


#: ``list``: widest licence cell that still sets the column width (longer free text, the COCO
#: import's, pushes its own description right; licences are never cut)
LICENSE_COLUMN = 36


def config_lines(columns: int, full: bool = False) -> list[str]:
    """``list`` output for a terminal ``columns`` wide: one line per config, description cut to fit
    (``full``: the whole description wrapped below it). Names and licences are never cut."""
    from ..exporters.card import is_non_commercial
    from ..sources import CONFIG_SPECS

    width = max(map(len, CONFIG_SPECS))
    licences = {
        name: spec.source.license + (" (non-commercial)" if is_non_commercial(spec.source.license) else "")
        for name, spec in CONFIG_SPECS.items()
    }
    # The column fits every licence but a free-text one (the COCO import's), which overflows.
    licence_width = max(len(text) for text in licences.values() if len(text) <= LICENSE_COLUMN)
    lines = []
    for name, spec in CONFIG_SPECS.items():
        head = f"{name.ljust(width)}  {licences[name].ljust(licence_width)}  "
        description = " ".join(spec.description.split())
        if full:
            lines.append(head.rstrip())
            for text in (description, _declared_facts(spec)):
                lines += textwrap.wrap(
                    text,
                    width=max(columns, 24),
                    initial_indent="    ",
                    subsequent_indent="    ",
                    break_on_hyphens=False,  # licence ids (CC-BY-4.0) and names stay whole
                )
        elif columns - len(head) >= 20:
            lines.append(head + textwrap.shorten(description, width=columns - len(head), placeholder=" ..."))
        else:  # a long licence leaves no room: the description goes below it
            lines.append(head.rstrip())
            lines.append("    " + textwrap.shorten(description, width=max(columns - 4, 20), placeholder=" ..."))
    return lines


def _declared_facts(spec: Any) -> str:
    """``list -v``'s second line: what the source declares (splits, classes, modality, scale, metrics)."""
    info = spec.info
    classes = "from the JSON" if spec.source.classes_need_data else ", ".join(spec.make_source().class_names())
    scale = ", ".join(
        f"{label} {value:g}" if isinstance(value, float) else f"{label} {value}"
        for label, value in (("µm/px", info.mpp), ("magnification", info.magnification))
        if value is not None
    )
    parts = [
        f"splits: {', '.join(spec.splits)}",
        f"classes: {classes}",
        f"modality: {info.modality}" + (f" ({info.stain})" if info.stain else ""),
        *([scale] if scale else []),
        f"metrics: {', '.join(info.metrics)}",
        f"guide: docs/sources/{info.doc}.md" if info.doc != "coco" else "guide: docs/coco.md",
    ]
    return "; ".join(parts) + "."


def _cmd_list(args: argparse.Namespace) -> int:
    print("\n".join(config_lines(shutil.get_terminal_size().columns, full=args.full)))
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    from ..exporters.hub import push_to_hub

    # Refusals (auth, permission, missing repo) and an unreachable endpoint come back as
    # hub.HubError, a NucleiCollectionError: one line naming the endpoint, no traceback.
    result = push_to_hub(
        args.out,
        args.repo_id,
        configs=args.config or None,
        private=args.private or None,
        revision=args.revision,
        token=args.token,
        commit_message=args.message,
        dry_run=args.dry_run,
    )
    print(result.plan.summary())
    for path in result.plan.deletions:
        print(f"  delete {path}")
    if result.commit_url:
        print(f"committed: {result.commit_url}")
    elif not args.dry_run:
        print("nothing changed: no commit made")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from .explore import show

    target = args.out or f"{args.config}-{args.index}.png"
    lines, _ = show(
        args.config,
        index=args.index,
        split=args.split,
        export=args.export,
        data_dir=args.data_dir,
        out=target,
        options=parse_options(args.option, [args.config]),
    )
    print("\n".join(lines))
    print(f"overlay written to {target}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    import json

    from .demo import print_table
    from .explore import export_stats

    rows = export_stats(args.out)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print_table(rows)
    return 0 if all(row["rows_ok"] for row in rows) else 1


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate

    result = evaluate(
        args.config,
        args.pred,
        data_dir=args.data_dir,
        export=args.export,
        split=args.split,
        metrics=args.metrics,
        missing=args.missing,
        options=parse_options(args.option, [args.config]),
        empty_score=args.empty_score,
        score_threshold=args.score_threshold,
        coco_images=args.coco_images,
        pred_config=args.pred_config,
    )
    written = result.write(args.out)
    print("\n".join(result.lines()))
    print(f"wrote {', '.join(path.name for path in written.values())} to {args.out}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nuclei-collection", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build configs from raw data into parquet shards")
    build.add_argument("configs", nargs="+", metavar="CONFIG", type=config_name, help="config name(s) (see `list`)")
    build.add_argument("--data-dir", help="raw data folder (default: download where possible)")
    build.add_argument("--out", default="nuclei_collection", help="export folder (default: ./nuclei_collection)")
    build.add_argument("--num-proc", type=positive_int, default=1, help="reader processes, >= 1 (output is identical for any value)")
    build.add_argument("--num-shards", type=positive_int, help="force this many shards per split (for multi-worker streaming)")
    build.add_argument("--max-shard-size", default="500MB", help="shard size limit (default 500MB)")
    build.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="reader option")
    build.add_argument("--cache-dir", help="download cache (default: the datasets cache)")
    views = build.add_argument_group(
        "training views (docs/views.md); exported as <config>_tiles512, <config>_mpp0.5 ..."
    )
    views.add_argument("--tile", type=int, metavar="PX", help="cut images into PX x PX tiles (edge tiles cut short)")
    views.add_argument("--stride", type=int, metavar="PX", help="tile step (default: --tile; smaller = overlap)")
    views.add_argument(
        "--min-area",
        type=int,
        metavar="PX",
        help=f"drop clipped object pieces under PX pixels (default {DEFAULT_MIN_AREA})",
    )
    resolution = views.add_mutually_exclusive_group()
    resolution.add_argument("--target-mpp", type=float, metavar="M", help="resample to M microns/pixel (mpp known)")
    resolution.add_argument("--scale", type=float, metavar="F", help="resample by factor F (e.g. 0.5 halves w and h)")
    build.set_defaults(func=_cmd_build)

    coco = commands.add_parser("export-coco", help="write DIR/<config>/ images + DIR/annotations/<config>.json (COCO)")
    coco.add_argument("config", metavar="CONFIG", type=config_name)
    coco.add_argument("--out", required=True, help="COCO folder (images in OUT/<config>/, JSON in OUT/annotations/)")
    coco.add_argument("--data-dir", help="raw data folder (default: download where possible)")
    coco.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="reader option")
    coco.add_argument("--cache-dir", help="download cache (default: the datasets cache)")
    coco.add_argument("--name", help="exported name (default: the config's export name)")
    coco.set_defaults(func=_cmd_export_coco)
    imagemask = commands.add_parser(
        "export-imagemask", help="write {train,valid,test}/{images,masks} PNG folders (docs/imagemask.md)"
    )
    imagemask.add_argument("config", metavar="CONFIG", type=config_name)
    imagemask.add_argument("--out", required=True, help="output folder (replaced atomically)")
    imagemask.add_argument("--data-dir", help="raw data folder (default: download where possible)")
    imagemask.add_argument(
        "--split", default="0.8,0.1,0.1", help="train,valid,test ratios (default 0.8,0.1,0.1) or 'upstream'"
    )
    imagemask.add_argument("--seed", type=int, default=0, help="seed of the ratio split (default 0)")
    imagemask.add_argument("--mask", choices=("instance", "class"), default="instance", help="mask encoding")
    imagemask.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="reader option")
    imagemask.add_argument("--cache-dir", help="download cache (default: the datasets cache)")
    imagemask.set_defaults(func=_cmd_export_imagemask)

    demo = commands.add_parser("demo", help="synthetic DSB2018 data -> build -> load_dataset -> summary + preview")
    demo.add_argument("--out", default="nuclei_collection")
    demo.add_argument("--raw", default="nuclei_collection_demo_raw", help="where the synthetic raw data goes")
    demo.add_argument("--preview", default="nuclei_collection_preview.png")
    demo.add_argument("--images", type=int, default=12)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--num-proc", type=positive_int, default=1)
    demo.set_defaults(func=_cmd_demo)

    listing = commands.add_parser("list", help="list the configs (descriptions cut to the terminal width)")
    listing.add_argument("--verbose", "-v", dest="full", action="store_true", help="full descriptions, wrapped")
    listing.set_defaults(func=_cmd_list)

    push = commands.add_parser("push", help="push an export to one Hugging Face dataset repo (one commit)")
    push.add_argument("out", metavar="OUT", help="export folder written by build")
    push.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="dataset repo (created if missing)")
    push.add_argument("--config", action="append", default=[], metavar="C", help="push only this config (repeatable)")
    push.add_argument("--private", action="store_true", help="create the repo private (no effect on existing repos)")
    push.add_argument("--revision", metavar="R", help="branch to commit to (created if missing; default main)")
    push.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    push.add_argument("--message", help="commit message")
    push.add_argument("--dry-run", action="store_true", help="only print what would be uploaded and deleted")
    push.set_defaults(func=_cmd_push)

    show = commands.add_parser("show", help="draw one record's masks over its image")
    show.add_argument("config", metavar="CONFIG")
    show.add_argument("--index", type=int, default=0, metavar="I", help="record index within the split (default 0)")
    show.add_argument("--split", help="split (default: the first one)")
    show.add_argument("--out", metavar="PNG", help="overlay file (default: CONFIG-I.png)")
    where = show.add_mutually_exclusive_group()
    where.add_argument("--export", metavar="OUT", help="read from this export folder (default: ./nuclei_collection)")
    where.add_argument("--data-dir", metavar="RAW", help="read from the raw files instead of an export")
    show.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="reader option")
    show.set_defaults(func=_cmd_show)

    stats = commands.add_parser("stats", help="images, instances, classes and sizes per config and split")
    stats.add_argument("out", nargs="?", default="nuclei_collection", metavar="OUT", help="export folder")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(func=_cmd_stats)

    evaluation = commands.add_parser(
        "evaluate", help="score predictions against a config's ground truth (docs/evaluation.md)"
    )
    evaluation.add_argument("config", metavar="CONFIG", help="config (or exported name, with --export)")
    evaluation.add_argument(
        "--pred",
        required=True,
        metavar="PATH",
        help="label-map folder (<image_id>.png|.tif|.npy), COCO results .json, parquet export folder, "
        "or PanNuke masks.npy",
    )
    truth = evaluation.add_mutually_exclusive_group()
    truth.add_argument("--data-dir", metavar="RAW", help="ground truth from raw files (default: download)")
    truth.add_argument("--export", metavar="OUT", help="ground truth from an export folder (`build --out`)")
    evaluation.add_argument("--split", help="split to score (required when the config has several)")
    evaluation.add_argument("--metrics", metavar="M,M", help="e.g. pq,aji,aji_plus,dsb2018,f1,dice,coco_ap,bpq,mpq")
    evaluation.add_argument(
        "--missing",
        choices=("error", "empty"),
        default="error",
        help="image without prediction: error, or score as empty",
    )
    evaluation.add_argument(
        "--empty-score", type=float, metavar="S", help="score empty-truth/empty-prediction images S (default: excluded)"
    )
    evaluation.add_argument(
        "--score-threshold", type=float, metavar="T", help="drop predictions scoring below T (not for AP)"
    )
    evaluation.add_argument(
        "--coco-images", metavar="JSON", help="COCO export annotations JSON (maps image numbers to ids)"
    )
    evaluation.add_argument("--pred-config", metavar="NAME", help="config inside a prediction export (default: CONFIG)")
    evaluation.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="reader option")
    evaluation.add_argument(
        "--out", required=True, metavar="REPORT_DIR", help="report folder (summary.json, CSVs, figure.png)"
    )
    evaluation.set_defaults(func=_cmd_evaluate)
    return parser


#: exit status after Ctrl-C (128 + SIGINT), as shells report it
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        # Every export is staged and renamed into place only when complete (atomic.py):
        # what was there before the build is still there.
        if args.verbose:
            raise
        print("interrupted; previous export kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (NucleiCollectionError, ValueError, KeyError, OSError) as error:
        # Our own errors already name the file and the reason, and so does the file system's
        # (permission denied, disk full midway: "[Errno 28] ...: 'path'"): no traceback.
        if args.verbose:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


def configure_logging(verbose: bool) -> None:
    """INFO (DEBUG with -v) lines of our logger on stderr: warnings, counted notes and the
    progress lines of long steps (progress.py) show by default, with or without a TTY.

    ``basicConfig`` alone does nothing when the root logger already has a handler (an
    embedding application, pytest's capture), so the level is also set on our own logger.
    """
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(level)
