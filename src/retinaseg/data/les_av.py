"""LES-AV (Orlando et al. 2018), the layout of its public package.

22 photos from a glaucoma clinic, 1620x1444 but for image 34 (2196x1958):
every file of a photo carries the photo's own size, so pairing is by name and
:func:`~retinaseg.data.registry.load_sample` checks each label against its
photo. ``vessel-segmentations/NAME.png`` is the ground truth, ``masks/
NAME_mask.gif`` (palette indices 0/1) the FOV and ``arteries-and-veins/
NAME.png`` the RITE-coded A/V label (:mod:`retinaseg.data.av`).

No official split: ``train``/``test`` are the 11/11 split of published A/V
work (Zhou et al. 2021, "Learning to address intra-segment
misclassification"), whose test images are listed in :data:`TEST_IDS`.
"""
from __future__ import annotations

from pathlib import Path

from .registry import DatasetSpec, SampleFiles, register_dataset, require_file

IDS = ["12", "15", "33", "34", "37", "42", "49", "53", "90", "111", "119",
       "224", "240", "275", "279", "304", "318", "367", "370", "486", "529", "586"]
TEST_IDS = ["224", "240", "275", "279", "304", "318", "367", "370", "486", "529", "586"]
TRAIN_IDS = [i for i in IDS if i not in TEST_IDS]


def _files(folder: Path, image_id: str) -> SampleFiles:
    return SampleFiles(
        id=image_id,
        image=require_file(folder / "images" / f"{image_id}.png"),
        vessel=require_file(folder / "vessel-segmentations" / f"{image_id}.png"),
        fov=require_file(folder / "masks" / f"{image_id}_mask.gif"),
        av=require_file(folder / "arteries-and-veins" / f"{image_id}.png"),
    )


def list_les_av_files(folder: Path, split: str) -> list[SampleFiles]:
    ids = {"train": TRAIN_IDS, "test": TEST_IDS, "all": IDS}[split]
    return [_files(folder, i) for i in ids]


LES_AV = register_dataset(DatasetSpec(
    name="les_av",
    folder="LES-AV",
    description="LES-AV, 22 images 1620x1444 (image 34: 2196x1958), vessels, FOV and A/V "
                "labels, Zhou 2021 11/11 split",
    splits={"train": "the 11 images not in Zhou et al. 2021's test set (12-119, by number)",
            "test": "224 240 275 279 304 318 367 370 486 529 586 (Zhou et al. 2021)",
            "all": "all 22"},
    expected_counts={"train": 11, "test": 11, "all": 22},
    list_files=list_les_av_files,
    fov_degrees=30.0,
    fov_degrees_note="Orlando et al. 2018 (30 deg); README.txt states no angle; image 34 "
                     "(2196x1958) may be a 45 deg photo",
))


SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def diagnoses(folder) -> dict[str, str]:
    """Each photo's diagnosis in the package's ``Data.xlsx`` (``normal``, ``NTG`` or
    ``POAG``), by image id; read with the standard library (no openpyxl): the
    sheet's cells, strings through the shared-string table."""
    import zipfile
    from xml.etree import ElementTree

    with zipfile.ZipFile(Path(folder) / "Data.xlsx") as book:
        shared = [("".join(t.text or "" for t in si.iter(f"{SHEET_NS}t")))
                  for si in ElementTree.fromstring(book.read("xl/sharedStrings.xml"))]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{SHEET_NS}row"):
        cells = []
        for cell in row.iter(f"{SHEET_NS}c"):
            value = cell.findtext(f"{SHEET_NS}v") or ""
            cells.append(shared[int(value)] if cell.get("t") == "s" else value)
        rows.append(cells)
    header = [h.strip().lower() for h in rows[0]]
    where, what = header.index("identifier"), next(i for i, h in enumerate(header)
                                                   if h.startswith("diagnosis"))
    return {_number(r[where]): r[what].strip() for r in rows[1:] if len(r) > max(where, what)}


def _number(text: str) -> str:
    """``12`` for a cell stored as ``12`` or ``12.0``."""
    return str(int(float(text)))


def glaucoma_group(diagnosis: str) -> str:
    """``normal`` or ``glaucoma`` (normal-tension NTG and primary open-angle POAG)."""
    return "normal" if diagnosis.strip().lower() == "normal" else "glaucoma"
