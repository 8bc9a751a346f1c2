"""``retinaseg export``, ``models`` and ``datasets``: what there is, and ONNX files of it."""
from __future__ import annotations

from ..hub.pretrained import DEFAULT_MODEL


def add_parsers(verbs) -> None:
    """Add this module's verbs to the ``retinaseg`` sub-parsers."""
    ex = verbs.add_parser("export", help="write a model as ONNX, for onnxruntime and other "
                                         "runtimes (any height and width)")
    ex.add_argument("--model", default=DEFAULT_MODEL,
                    help=f"shipped weights name or checkpoint path (default {DEFAULT_MODEL})")
    ex.add_argument("--out", required=True, help="the .onnx file to write")
    ex.add_argument("--no-check", dest="check", action="store_false",
                    help="skip the check that onnxruntime gives PyTorch's probabilities "
                         "(the check needs onnxruntime; export alone needs only onnx)")
    ex.set_defaults(run=cmd_export)

    verbs.add_parser("models", help="list architectures and shipped weights").set_defaults(
        run=cmd_models)
    ds = verbs.add_parser("datasets", help="list datasets and whether they are on disk")
    ds.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    ds.set_defaults(run=cmd_datasets)


def cmd_export(args) -> int:
    from ..hub.export import export_onnx
    from ..hub.load import load_model

    bundle = load_model(args.model, "cpu")  # exported from the CPU: the file is device-neutral
    report = export_onnx(bundle, args.out, name=args.model, check=args.check)
    print(f"wrote {report.path} ({report.bytes / 1e6:.1f} MB, opset {report.opset})")
    if report.max_difference is not None:
        print(f"largest probability difference from PyTorch on a {report.check_size} random "
              f"input: {report.max_difference:.2e}")
    return 0


def cmd_models(args) -> int:
    from ..hub.catalog import ARCHITECTURES
    from ..hub.pretrained import PRETRAINED, pretrained_path

    print("architectures (retinaseg train, model.name):")
    for name, description in sorted(ARCHITECTURES.items()):
        print(f"  {name:<22}{description}")
    print("shipped weights (--model NAME):")
    for name, weights in PRETRAINED.items():
        state = "" if pretrained_path(name).is_file() else "  [file missing]"
        print(f"  {name:<22}{weights.description}{state}")
    return 0


def cmd_datasets(args) -> int:
    from ..data.registry import dataset_status, find_data_root, resolve_data_root

    root = resolve_data_root(args.data_root)
    print(f"data root {root} (from {find_data_root(args.data_root)[1]})")
    for status in dataset_status(root):
        print(format_status(status))
    return 0


def format_status(status: dict) -> str:
    if not status["found"]:
        state = "not found"
    elif status["complete"]:
        state = "complete"
    else:
        state = "INCOMPLETE: " + (status.get("problem") or "")
    counts = ", ".join(f"{split} {'?' if found is None else found}/{expected}"
                       for split, (found, expected) in status.get("counts", {}).items())
    return f"{status['name']:<10} {state:<12} {status['folder']}  {counts}".rstrip()
