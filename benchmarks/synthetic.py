"""Synthetic fundus photographs and on-disk fixtures in the official dataset layouts.

``synthetic_fundus`` draws an orange disc on black with dark, branching, curvy
vessels: enough structure for a tiny model to learn something in tests. The
``write_*`` functions build the exact official folder layouts (names, file
formats, pixel encodings and known quirks) from small synthetic images, so
each loader is tested against what it will meet on a real disk.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

SIZE = (64, 64)  # (height, width) of the fixture images


def synthetic_fundus(height: int, width: int,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fake fundus photograph: ``(image uint8 RGB, vessel bool, fov bool)``, all ``(H, W)``.

    The disc is centred with a dark surround; its brightness falls off towards
    the edge like real vignetting; vessels are drawn as trees from an optic
    disc and are dark in every channel. Deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:height, :width].astype(np.float32)
    radius = 0.46 * min(height, width)
    centre = ((height - 1) / 2, (width - 1) / 2)
    dist = np.hypot(rows - centre[0], cols - centre[1]) / radius
    fov = dist <= 1.0
    disc = (centre[0] + rng.uniform(-0.1, 0.1) * radius,
            centre[1] + rng.uniform(0.2, 0.35) * radius)
    vessel = _vessel_tree(height, width, disc, radius, rng) & fov
    glow = np.exp(-((rows - disc[0]) ** 2 + (cols - disc[1]) ** 2) / (0.12 * radius) ** 2)
    shade = (1.0 - 0.35 * dist ** 2) * (1.0 + 0.25 * glow)  # vignetting, bright optic disc
    colour = np.array([205.0, 105.0, 45.0]) * rng.uniform(0.85, 1.1)
    soft_vessel = ndimage.gaussian_filter(vessel.astype(np.float32), 0.6)
    darkening = 1.0 - 0.45 * np.clip(1.5 * soft_vessel, 0, 1)
    image = colour * (shade * darkening)[..., None] + rng.normal(0, 3, (height, width, 3))
    image[~fov] = rng.uniform(0, 6, (np.count_nonzero(~fov), 3))
    return np.clip(image, 0, 255).astype(np.uint8), vessel, fov


def _vessel_tree(height: int, width: int, root: tuple[float, float], radius: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Four trunks from the optic disc, each forking three times, as curvy polylines."""
    canvas = Image.new("L", (width, height))
    draw = ImageDraw.Draw(canvas)
    step = max(1.0, radius / 24)
    stack = [(root, angle + rng.normal(0, 0.2), max(1.0, radius / 30), 3)
             for angle in (-2.3, 2.3, -0.9, 0.9)]
    while stack:
        (y, x), angle, thickness, forks = stack.pop()
        points = [(x, y)]
        for _ in range(int(rng.uniform(7, 13))):
            angle += rng.normal(0, 0.2)
            y, x = y + step * math.sin(angle), x + step * math.cos(angle)
            points.append((x, y))
        draw.line(points, fill=255, width=max(1, round(thickness)), joint="curve")
        if forks:
            for turn in (-0.6, 0.6):
                new_angle = angle + turn + rng.normal(0, 0.15)
                stack.append(((y, x), new_angle, thickness * 0.75, forks - 1))
    return np.asarray(canvas) > 0


# --- writers: one per official layout -------------------------------------------------------

def _fundus(seed: int, size=SIZE):
    return synthetic_fundus(size[0], size[1], seed)


def _grey(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(mask.astype(np.uint8) * 255)


def _second_observer(vessel: np.ndarray, fov: np.ndarray) -> np.ndarray:
    return np.roll(vessel, 1, axis=1) & fov


def _save_l_gif(mask: np.ndarray, path: Path) -> None:
    # optimize=False keeps the full 256-grey palette, so it opens as mode "L" like DRIVE's
    _grey(mask).save(path, optimize=False)


def _save_palette_gif(mask: np.ndarray, path: Path) -> None:
    """DRIVE 2nd_manual: palette indices {0, 1}, colours (4,2,4) and (252,254,252)."""
    image = Image.fromarray(mask.astype(np.uint8), "P")
    image.putpalette([4, 2, 4, 252, 254, 252])
    image.save(path)


def write_drive(root: Path) -> Path:
    """``DRIVE/{training,test}/...``: LZW RGB TIFFs, grey GIF masks, palette 2nd_manual."""
    folder = Path(root) / "DRIVE"
    for part, ids in (("training", range(21, 41)), ("test", range(1, 21))):
        for sub in ("images", "1st_manual", "mask") + (("2nd_manual",) if part == "test" else ()):
            (folder / part / sub).mkdir(parents=True, exist_ok=True)
        for n in ids:
            image, vessel, fov = _fundus(n)
            Image.fromarray(image).save(folder / part / "images" / f"{n:02d}_{part}.tif",
                                        compression="tiff_lzw")
            _save_l_gif(vessel, folder / part / "1st_manual" / f"{n:02d}_manual1.gif")
            _save_l_gif(fov, folder / part / "mask" / f"{n:02d}_{part}_mask.gif")
            if part == "test":
                _save_palette_gif(_second_observer(vessel, fov),
                                  folder / part / "2nd_manual" / f"{n:02d}_manual2.gif")
    return folder


def write_chase(root: Path) -> Path:
    """``CHASEDB1/``, flat: RGB JPEGs and 1-bit PNG annotations by two observers."""
    folder = Path(root) / "CHASEDB1"
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(f"{c:02d}{eye}" for c in range(1, 15) for eye in "LR"):
        image, vessel, fov = _fundus(100 + index)
        Image.fromarray(image).save(folder / f"Image_{name}.jpg", quality=90)
        Image.fromarray(vessel).save(folder / f"Image_{name}_1stHO.png")  # bool -> mode "1"
        Image.fromarray(_second_observer(vessel, fov)).save(folder / f"Image_{name}_2ndHO.png")
    return folder


HRF_GREY_IDS = ("11_h", "12_h", "13_h")  # official manual1 files with a few grey pixels


def write_hrf(root: Path, size=(64, 96)) -> Path:
    """``HRF/{images,manual1,mask}``: ``.JPG`` for ``_dr``, grey TIFF GT, RGB LZW TIFF FOV."""
    folder = Path(root) / "HRF"
    for sub in ("images", "manual1", "mask"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(f"{n:02d}_{c}" for c in ("h", "g", "dr") for n in range(1, 16)):
        image, vessel, fov = _fundus(200 + index, size)
        suffix = ".JPG" if name.endswith("_dr") else ".jpg"
        Image.fromarray(image).save(folder / "images" / f"{name}{suffix}", "JPEG", quality=90)
        manual = vessel.astype(np.uint8) * 255
        if name in HRF_GREY_IDS:  # uncompressed, with anti-aliased grey pixels at vessel edges
            edge = np.flatnonzero(ndimage.binary_dilation(vessel) & ~vessel)[:5]
            manual.flat[edge] = 128
            Image.fromarray(manual).save(folder / "manual1" / f"{name}.tif")
        else:
            Image.fromarray(manual).save(folder / "manual1" / f"{name}.tif", compression="packbits")
        rgb = np.repeat((fov.astype(np.uint8) * 255)[..., None], 3, axis=2)
        Image.fromarray(rgb).save(folder / "mask" / f"{name}_mask.tif", compression="tiff_lzw")
    return folder


STARE_IDS = ["0001", "0002", "0003", "0004", "0005", "0044", "0077", "0081", "0082", "0139",
             "0162", "0163", "0235", "0236", "0239", "0240", "0255", "0291", "0319", "0324"]
XV_COMMENT = b"# CREATOR: XV Version 3.10a  Rev: 12/29/94\n"


def write_pgm(mask: np.ndarray, path: Path, comment: bytes = XV_COMMENT) -> None:
    """A binary PGM ("P5"), as the STARE labels are, whatever the file's extension."""
    height, width = mask.shape
    header = b"P5\n" + comment + f"{width} {height}\n255\n".encode()
    path.write_bytes(header + (mask.astype(np.uint8) * 255).tobytes())


def write_stare(root: Path, size=(61, 70)) -> Path:
    """``STARE/{stare-images,labels-ah,labels-vk}``: P6 images, P5 labels named ``.ppm``."""
    folder = Path(root) / "STARE"
    for sub in ("stare-images", "labels-ah", "labels-vk"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for index, image_id in enumerate(STARE_IDS):
        image, vessel, fov = _fundus(300 + index, size)
        Image.fromarray(image).save(folder / "stare-images" / f"im{image_id}.ppm")  # "P6"
        write_pgm(vessel, folder / "labels-ah" / f"im{image_id}.ah.ppm")
        write_pgm(_second_observer(vessel, fov), folder / "labels-vk" / f"im{image_id}.vk.ppm",
                  comment=XV_COMMENT if index % 2 else b"")  # only some carry the XV comment
    return folder


def write_reta(root: Path, labelled: int = 54, unlabelled: int = 27) -> Path:
    """``RETA/images/{train/img,train/vessel,test/img}``: JPEGs and ``<stem>_vessel.png``."""
    folder = Path(root) / "RETA"
    for sub in ("train/img", "train/vessel", "test/img"):
        (folder / "images" / sub).mkdir(parents=True, exist_ok=True)
    for n in range(1, labelled + unlabelled + 1):
        image, vessel, _ = _fundus(400 + n)
        part = "train" if n <= labelled else "test"
        name = f"IDRiD_{n:02d}"
        Image.fromarray(image).save(folder / "images" / part / "img" / f"{name}.jpg", quality=90)
        if part == "train":
            _grey(vessel).save(folder / "images" / "train" / "vessel" / f"{name}_vessel.png")
    return folder


def write_folder(root: Path, with_fov: bool = True) -> Path:
    """A user's ``images/``, ``masks/``, ``fov/`` folder, with mixed types and both mask namings."""
    folder = Path(root) / "mydata"
    for sub in ("images", "masks") + (("fov",) if with_fov else ()):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    layout = [("a", ".png", "a.png", "a.png"), ("b", ".jpg", "b_mask.png", "b_fov.gif"),
              ("c", ".tif", "c_mask.tif", "c_mask.png")]
    for seed, (stem, suffix, mask_name, fov_name) in enumerate(layout):
        image, vessel, fov = _fundus(500 + seed)
        Image.fromarray(image).save(folder / "images" / f"{stem}{suffix}")
        _grey(vessel).save(folder / "masks" / mask_name)
        if with_fov:
            _grey(fov).save(folder / "fov" / fov_name)
    return folder


# --- the added sets (LES-AV, AV-WIDE, VEVIO) and the A/V labels beside DRIVE and HRF ----------

RITE = {"artery": (255, 0, 0), "vein": (0, 0, 255), "crossing": (0, 255, 0),
        "uncertain": (255, 255, 255)}


def av_label(vessel: np.ndarray, uncertain: bool = True) -> np.ndarray:
    """A RITE-coded ``(H, W, 3)`` label of ``vessel``: left half arteries, right half veins,
    a crossing column in the middle, and (``uncertain``) white in the bottom rows."""
    height, width = vessel.shape
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    cols = np.arange(width)[None, :].repeat(height, axis=0)
    rgb[vessel & (cols < width // 2)] = RITE["artery"]
    rgb[vessel & (cols >= width // 2)] = RITE["vein"]
    rgb[vessel & (cols == width // 2)] = RITE["crossing"]
    if uncertain:
        rgb[vessel & (np.arange(height)[:, None] >= height - 4)] = RITE["uncertain"]
    return rgb


LES_AV_IDS = ["12", "15", "33", "34", "37", "42", "49", "53", "90", "111", "119",
              "224", "240", "275", "279", "304", "318", "367", "370", "486", "529", "586"]
LES_AV_ODD = ("34", (80, 72))  # like the real image 34, one photo of another size


def write_les_av(root: Path) -> Path:
    """``LES-AV/``: RGB PNGs, 8-bit vessel PNGs, palette GIF FOV masks, RITE A/V PNGs."""
    folder = Path(root) / "LES-AV"
    for sub in ("images", "vessel-segmentations", "masks", "arteries-and-veins"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(LES_AV_IDS):
        size = LES_AV_ODD[1] if name == LES_AV_ODD[0] else SIZE
        image, vessel, fov = _fundus(600 + index, size)
        Image.fromarray(image).save(folder / "images" / f"{name}.png")
        _grey(vessel).save(folder / "vessel-segmentations" / f"{name}.png")
        _save_palette_gif(fov, folder / "masks" / f"{name}_mask.gif")
        Image.fromarray(av_label(vessel)).save(folder / "arteries-and-veins" / f"{name}.png")
    write_les_av_sheet(folder / "Data.xlsx", {name: LES_AV_DIAGNOSES.get(name, "normal")
                                              for name in LES_AV_IDS})
    return folder


# The real package's diagnoses of some photos (the others are normal there too).
LES_AV_DIAGNOSES = {"111": "NTG", "119": "NTG", "275": "POAG", "279": "POAG", "304": "NTG"}


def write_les_av_sheet(path: Path, diagnoses: dict[str, str]) -> None:
    """A minimal ``Data.xlsx`` as LES-AV's: a diagnosis and an identifier column
    (numbers stored as numbers, text through the shared-string table)."""
    import zipfile

    strings = ["Diagnosis5", "Identifier", "Age", *sorted(set(diagnoses.values()))]
    cell = lambda ref, text: f'<c r="{ref}" t="s"><v>{strings.index(text)}</v></c>'  # noqa: E731
    rows = [f'<row r="1">{cell("A1", "Diagnosis5")}{cell("B1", "Identifier")}'
            f'{cell("C1", "Age")}</row>']
    for n, (name, diagnosis) in enumerate(diagnoses.items(), start=2):
        rows.append(f'<row r="{n}">{cell(f"A{n}", diagnosis)}<c r="B{n}" t="n"><v>{name}</v></c>'
                    f'<c r="C{n}" t="n"><v>60</v></c></row>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    shared = "".join(f"<si><t>{t}</t></si>" for t in strings)
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("xl/sharedStrings.xml", f'<?xml version="1.0"?><sst {ns}>{shared}</sst>')
        book.writestr("xl/worksheets/sheet1.xml",
                      f'<?xml version="1.0"?><worksheet {ns}><sheetData>{"".join(rows)}'
                      "</sheetData></worksheet>")


def av_wide_size(number: int) -> tuple[int, int]:
    """Each AV-WIDE photo has its own size, like the real ones."""
    return (64, 79 + number)


def write_av_wide(root: Path) -> Path:
    """``AV-WIDE/{images,manual}``: RGB PNGs of 30 sizes, 8-bit vessel PNGs, no FOV masks."""
    folder = Path(root) / "AV-WIDE"
    for sub in ("images", "manual"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for number in range(1, 31):
        image, vessel, _ = _fundus(700 + number, av_wide_size(number))
        Image.fromarray(image).save(folder / "images" / f"wide_image_{number:02d}.png")
        _grey(vessel).save(folder / "manual" / f"wide_image_{number:02d}_vessels.png")
    return folder


VEVIO_EYES = ["neo02od1", "neo03od1", "neo04od1", "neo06od1", "neo07od1", "neo08od1",
              "neo10od1", "neo11od1", "neo12od1", "neo13od1", "neo14od1", "neo15od1",
              "neo17od1", "neo20od1", "neo22od1", "neo23od1"]
VEVIO_FRAME, VEVIO_MOSAIC = (48, 64), (64, 70)


def write_vevio(root: Path) -> Path:
    """``VEVIO/{frames,mosaics}{,_manual_01_bw,_masks}``; some frame masks with a blurred edge."""
    folder = Path(root) / "VEVIO"
    for index, eye in enumerate(VEVIO_EYES):
        for kind, prefix, size in (("d", "frames", VEVIO_FRAME), ("m", "mosaics", VEVIO_MOSAIC)):
            for sub in ("", "_manual_01_bw", "_masks"):
                (folder / f"{prefix}{sub}").mkdir(parents=True, exist_ok=True)
            stem = f"{eye}_{kind}"
            image, vessel, fov = _fundus(800 + 2 * index + (kind == "m"), size)
            Image.fromarray(image).save(folder / prefix / f"{stem}.png")
            _grey(vessel).save(folder / f"{prefix}_manual_01_bw" / f"bw_{stem}_black.png")
            mask = fov.astype(np.float32) * 255
            if kind == "d" and index % 3 == 0:  # a soft edge, as six real frame masks have
                mask = ndimage.gaussian_filter(mask, 1.5)
            Image.fromarray(mask.astype(np.uint8)).save(folder / f"{prefix}_masks" / f"mask_{stem}.png")
    return folder


def write_drive_av(root: Path) -> Path:
    """``DRIVE-AV/{training,test}/av/NN_<part>.png`` beside a synthetic DRIVE (its vessels)."""
    folder = Path(root) / "DRIVE-AV"
    for part, ids in (("training", range(21, 41)), ("test", range(1, 21))):
        (folder / part / "av").mkdir(parents=True, exist_ok=True)
        for n in ids:
            _, vessel, _ = _fundus(n)
            Image.fromarray(av_label(vessel)).save(folder / part / "av" / f"{n:02d}_{part}.png")
    return folder


def write_hrf_av(root: Path, size=(64, 96)) -> Path:
    """``HRF-AV/NN_c_AVmanual.png`` beside a synthetic HRF (no white, like the real ones)."""
    folder = Path(root) / "HRF-AV"
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(f"{n:02d}_{c}" for c in ("h", "g", "dr") for n in range(1, 16)):
        _, vessel, _ = _fundus(200 + index, size)
        Image.fromarray(av_label(vessel, uncertain=False)).save(folder / f"{name}_AVmanual.png")
    return folder


def zone_b_ring(shape=(584, 565), centre=(280, 90), disc_radius=40.0) -> np.ndarray:
    """An RGBA zone B file's pixels: the ring from 2 to 3 disc radii, cut by the photo's edge."""
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    distance = np.hypot(rows - centre[0], cols - centre[1])
    ring = (distance >= 2 * disc_radius) & (distance <= 3 * disc_radius)
    rgba = np.zeros((*shape, 4), dtype=np.uint8)
    rgba[ring] = (255, 255, 255, 255)
    return rgba


WRITERS = {"drive": write_drive, "chase_db1": write_chase, "hrf": write_hrf,
           "stare": write_stare, "reta": write_reta, "les_av": write_les_av,
           "av_wide": write_av_wide, "vevio": write_vevio}
