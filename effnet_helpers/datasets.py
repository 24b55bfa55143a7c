"""Where the images come from: the sample data in the repository, TensorFlow's flowers photos
(downloaded, then split), or your own folder (local, Google Drive on Colab, or gs://)."""
from __future__ import annotations

import os
import tarfile
import urllib.request
from pathlib import Path

from . import settings, storage


def download_flowers(dest_dir) -> str:
    """Download and unpack TensorFlow's flowers photos (about 230 MB, 5 classes, flat
    <class>/<image> layout) into DEST_DIR; return the flat folder. Nothing is fetched twice."""
    target = os.path.join(dest_dir, "flower_photos")
    if os.path.isdir(target):
        return target
    os.makedirs(dest_dir, exist_ok=True)
    archive = os.path.join(dest_dir, "flower_photos.tgz")
    if not os.path.exists(archive):
        partial = archive + ".part"
        print(f"Downloading {settings.FLOWERS_URL} ...")
        urllib.request.urlretrieve(settings.FLOWERS_URL, partial)
        os.replace(partial, archive)
    unpacking = target + ".unpacking"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacking, filter="data")
    os.replace(os.path.join(unpacking, "flower_photos"), target)
    os.rmdir(unpacking)
    return target


def get_dataset(name: str = "sample", work_dir=None) -> str:
    """The train/validation folder for DATASET: "sample" (the repository's digits), "flowers"
    (downloaded and split 80/20 into WORK_DIR/flowers on first use), or a path of your own."""
    work_dir = Path(work_dir or settings.work_dir())
    if name == "sample":
        return str(settings.sample_data_dir())
    if name == "flowers":
        from .layout import split_dataset
        target = work_dir / "flowers"
        if not (target / "train").is_dir():
            flat = download_flowers(work_dir / "downloads")
            staging = work_dir / "flowers.splitting"
            storage.remove_tree(staging)
            split_dataset(flat, staging)
            os.replace(staging, target)
        return str(target)
    if not storage.isdir(name):
        raise FileNotFoundError(
            f"DATASET = {name!r} is neither 'sample', 'flowers' nor an existing folder. On Colab, "
            "mount Google Drive first (from google.colab import drive; "
            "drive.mount('/content/drive')) and give a path under /content/drive/MyDrive.")
    return str(name)


def _images_in(folder: Path, count: int) -> list[Path]:
    """The first COUNT files of FOLDER, in sorted order, that Pillow can open."""
    from PIL import Image, UnidentifiedImageError

    found = []
    for f in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            with Image.open(f):
                found.append(f)
        except (OSError, UnidentifiedImageError):
            continue
        if len(found) == count:
            break
    return found


def make_messy_dataset(source_dir, dest_dir, classes=None, per_class: int = 4) -> str:
    """A small copy of two classes of SOURCE_DIR (CLASSES, default the first two in sorted order
    that train/ and validation/ both hold) with the problems real photo folders have, one of
    each, for the lessons: a text file, an empty and a truncated JPEG, a .DS_Store, a PNG named
    .jpg, the same photo in train and validation, an empty class folder and a class in
    validation only. Works with any class names."""
    import shutil

    from PIL import Image

    source, messy = Path(source_dir), Path(dest_dir)
    if classes is None:
        train, validation = ({p.name for p in (source / s).iterdir() if p.is_dir()}
                             for s in ("train", "validation"))
        classes = sorted(train & validation)[:2]
    if len(classes) < 2:
        raise ValueError(f"{source} needs two classes in both train/ and validation/ for the "
                         "messy copy.")
    shutil.rmtree(messy, ignore_errors=True)
    for split in ("train", "validation"):  # the mess needs two splits; a test/ is not copied
        for cls in classes:
            (messy / split / cls).mkdir(parents=True)
            for f in _images_in(source / split / cls, per_class):
                shutil.copy(f, messy / split / cls / f.name)
    a, b = classes[0], classes[1]
    photo = _images_in(messy / "train" / a, 1)[0]
    (messy / f"train/{a}/notes.txt").write_text("remember to label these")  # not an image
    (messy / f"train/{a}/empty.jpg").write_bytes(b"")                       # a failed copy
    (messy / f"train/{a}/cut.jpg").write_bytes(photo.read_bytes()[:700])    # a broken download
    (messy / "train/.DS_Store").write_bytes(b"\0\0\0\1Bud1")                # macOS leaves these
    Image.open(photo).save(messy / f"train/{b}/really_a_png.jpg", format="PNG")  # name lies
    shutil.copy(photo, messy / f"validation/{b}/same_photo.jpg")            # leak across splits
    (messy / "train/new_class").mkdir()                                     # an empty class
    (messy / "validation/stray_class").mkdir()                              # validation only
    shutil.copy(photo, messy / "validation/stray_class/stray.jpg")
    return str(messy)


# The awkward new photos of make_new_photos, each made from the second validation image of one of
# the first five classes, in this order.
NEW_PHOTO_CASES = ("scan.png", "print_cmyk.jpg", "phone_rotated.jpg", "large.jpg", "greyscale.jpg")


def new_photo_classes(source_dir, photos_dir) -> dict[str, str]:
    """{file name: the class it shows} for a folder made by make_new_photos from SOURCE_DIR: the
    awkward cases by NEW_PHOTO_CASES, the plain copies (CLASS_name.jpg) by their prefix."""
    classes = sorted(p.name for p in (Path(source_dir) / "validation").iterdir() if p.is_dir())
    expected = dict(zip(NEW_PHOTO_CASES, classes))
    for path in sorted(Path(photos_dir).iterdir()):
        owners = [c for c in classes if path.name.startswith(f"{c}_")]
        if path.name not in expected and owners:
            expected[path.name] = max(owners, key=len)
    return expected


def make_new_photos(source_dir, dest_dir, per_class: int = 1) -> str:
    """A folder of "new photos" for the inference lesson, made from SOURCE_DIR's validation
    images in the forms phones, scanners and the web hand out: a plain JPEG per class, a PNG, a
    CMYK JPEG, a photo stored on its side with an EXIF "rotate" tag, a large photo, a greyscale
    one, and a broken download (which prediction must report, not crash on)."""
    import shutil

    from PIL import ExifTags, Image

    source, out = Path(source_dir) / "validation", Path(dest_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    classes = sorted(p.name for p in source.iterdir() if p.is_dir())
    for cls in classes:
        for f in sorted((source / cls).iterdir())[:per_class]:
            shutil.copy(f, out / f"{cls}_{f.name}")
    first = [sorted((source / cls).iterdir())[per_class] for cls in classes[:5]]
    images = [Image.open(f).convert("RGB") for f in first]
    images[0].save(out / "scan.png")                                        # a PNG
    images[1].convert("CMYK").save(out / "print_cmyk.jpg",  # from a print shop
                                     quality=settings.JPEG_QUALITY)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "turn 90 degrees clockwise": how phones store portraits
    images[2].rotate(90, expand=True).save(out / "phone_rotated.jpg",
                                           quality=settings.JPEG_QUALITY,
                                           exif=exif.tobytes())
    images[3].resize((2000, 2000), Image.Resampling.BICUBIC).save(out / "large.jpg", quality=90)
    images[4].convert("L").save(out / "greyscale.jpg", quality=settings.JPEG_QUALITY)
    (out / "broken_download.jpg").write_bytes((out / "scan.png").read_bytes()[:300])
    return str(out)
