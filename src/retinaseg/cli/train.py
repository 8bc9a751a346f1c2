"""``retinaseg train``, ``calibrate`` and ``study``: making and re-calibrating models."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import OutputError
from .options import (
    _tta_mode,
    config_overrides,
    device_option,
    postprocess_choice,
    postprocess_options,
)


def add_parsers(verbs) -> None:
    """Add this module's verbs to the ``retinaseg`` sub-parsers."""
    tr = verbs.add_parser("train", help="train a model from a YAML config")
    tr.add_argument("--config", help="YAML file (see configs/); its model.name is the "
                                     "architecture to train ('retinaseg models' lists them)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value, e.g. --set optim.lr=0.01 (repeatable)")
    tr.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    tr.add_argument("--out", help="run folder (overrides out_dir)")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    device_option(tr, "train on")
    tr.set_defaults(run=cmd_train)

    ca = verbs.add_parser("calibrate", help="re-choose a trained model's threshold on its "
                                            "validation images (e.g. under a TTA), no training")
    ca.add_argument("--model", required=True, help="trained checkpoint (a run's "
                                                             "model.safetensors)")
    ca.add_argument("--config", required=True, help="the YAML it was trained with")
    ca.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value, e.g. --set threshold_min_specificity=0.98")
    ca.add_argument("--tta", type=_tta_mode, help="calibrate and ship with this TTA")
    ca.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    ca.add_argument("--out", required=True,
                    help="where to write the calibrated checkpoint (*.safetensors)")
    device_option(ca, "validate on")
    postprocess_options(ca, "any of these becomes the model's default, stored in the "
                             "checkpoint, and the calibre is measured under it (default: "
                             "the model's own stays)")
    ca.set_defaults(run=cmd_calibrate)

    st = verbs.add_parser("study", help="train, evaluate and table a grid of training variants")
    st.add_argument("--config", required=True, help="study YAML (see configs/study-*.yaml)")
    st.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    st.add_argument("--out", help="study folder (overrides out_dir); a rerun skips finished runs")
    device_option(st, "train every run on")
    st.set_defaults(run=cmd_study)


def cmd_train(args) -> int:
    from ..config.schema import load_config
    from ..train import fit

    overrides = config_overrides(args)
    if args.resume:
        overrides.append("resume=true")
    if args.out:
        overrides.append(f"out_dir={args.out}")
    config = load_config(args.config, overrides)
    from ..train.state import LAST, run_file

    try:
        model_path = fit(config)  # checks out_dir before it writes anything
    except OutputError as exc:
        out = Path(config.out_dir)
        kept = (f"{out}/ keeps the last finished epoch ('retinaseg train --resume' continues)"
                if run_file(out, LAST) else "no epoch had finished: nothing was kept")
        raise OutputError(exc.path, f"{exc.problem}; {kept}") from None
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one line from rank 0
        print(f"wrote {model_path}")
    return 0


def cmd_calibrate(args) -> int:
    from ..config.schema import load_config
    from ..io.atomic import check_output_file
    from ..pipeline.postprocess import model_postprocess
    from ..train import calibrate

    overrides = config_overrides(args) + ([f"tta={args.tta}"] if args.tta else [])
    config = load_config(args.config, overrides)
    meta = calibrate(args.model, config, check_output_file(args.out), postprocess_choice(args))
    scale = (f"; FOV range {meta.fov_range[0]:.0f}-{meta.fov_range[1]:.0f} px"
             if meta.fov_range else "")
    rule = "; each photo cut at its own Otsu threshold" if meta.threshold_rule == "otsu" else ""
    caliber = (f"; vessel calibre {meta.caliber_px:.2f} px (band {meta.caliber_band[0]:.2f}-"
               f"{meta.caliber_band[1]:.2f})" if meta.caliber_px else "")
    cleanup = f"; post-processing {model_postprocess(meta).describe()}"
    print(f"threshold {meta.threshold:.4f} ({meta.threshold_source}, TTA {meta.tta}){rule}{scale}"
          f"{caliber}{cleanup}; wrote {args.out}")
    return 0


def cmd_study(args) -> int:
    from ..io.atomic import check_output_folder
    from ..study import load_study, run_study

    study = load_study(args.config, args.out)
    check_output_folder(study.out_dir)
    rows = run_study(study, args.data_root, log=lambda line: print(line, flush=True),
                     device=args.device)
    print(f"{len(rows)} runs in {study.out_dir / 'study.md'} and {study.out_dir / 'study.csv'}")
    return 0
