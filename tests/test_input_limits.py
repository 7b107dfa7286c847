"""What a suite file, a plugin, a store row or a download names is checked before it reaches a
shell, a path or memory: names, Slurm values, YAML bombs, numeric options, archives and images."""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from genbench.errors import GenbenchError
from genbench.suite import load_suite, parse_seeds
from genbench.testing import run_cli
from genbench.validate import MAX_YAML_BYTES, check_name, confined, load_yaml

genbench = run_cli

SUITE = """
name: {name}
version: 1
device: cpu
budget: smoke
entries:
  - benchmark: digits
    models: [toy-pixel]
"""

BOMB = """
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
name: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
version: 1
entries: [{benchmark: digits}]
"""


def one_line(code: int, out: str, err: str) -> None:
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


# -- names and paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape", "a\nb", "x;touch /tmp/p", ".hidden", "-rf", "a b", "a/b", ""])
def test_unsafe_names_are_refused(name):
    with pytest.raises(GenbenchError, match="not a safe name"):
        check_name(name, "suite name")


def test_safe_names_pass_and_paths_stay_inside(tmp_path):
    assert check_name("summer2winter_yosemite", "benchmark") == "summer2winter_yosemite"
    assert check_name("mnist-quick.v2+x", "suite") == "mnist-quick.v2+x"
    assert confined(tmp_path, "suites", "x") == (tmp_path / "suites" / "x").resolve()
    with pytest.raises(GenbenchError, match="leaves"):
        confined(tmp_path, "suites", "../../etc")
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(GenbenchError, match="leaves"):
        confined(tmp_path, "link", "etc")


@pytest.mark.parametrize("name", ['"../../outside"', '"digits\\ntouch /tmp/pwned"'])
def test_a_suite_name_that_is_no_safe_name_is_one_line_before_anything_runs(toy_plugins, results, tmp_path, capsys,
                                                                           name):  # fmt: skip
    path = tmp_path / "evil.suite.yaml"
    path.write_text(SUITE.format(name=name))
    code, out, err = genbench(capsys, "suite", "run", str(path), "--results-dir", str(results))
    one_line(code, out, err)
    assert "not a safe name" in err
    assert not (tmp_path / "outside").exists() and not results.exists()


@pytest.mark.parametrize(
    "setting",
    ["partition=gpu\n#SBATCH --wrap=id", "account=a;touch x", "qos=$(id)", "constraint=a b", "mem=1G'", "time=1\nx"],
)
def test_slurm_values_cannot_leave_their_sbatch_line(toy_plugins, results, tmp_path, capsys, setting):
    pytest.importorskip("submitit")
    path = tmp_path / "toy.suite.yaml"
    path.write_text(SUITE.format(name="toy"))
    code, out, err = genbench(capsys, "suite", "run", str(path), "--executor", "submitit-local", "--results-dir",
                              str(results), "--slurm-param", setting)  # fmt: skip
    one_line(code, out, err)
    assert "slurm setting" in err and not (results / "suites").exists()


def test_slurm_values_from_a_suite_file_are_checked_too(tmp_path):
    from genbench.suite.cluster import slurm_parameters

    text = SUITE.format(name="toy") + 'slurm: {partition: "gpu\\ntouch /tmp/pwned"}\n'
    path = tmp_path / "toy.suite.yaml"
    path.write_text(text)
    suite = load_suite(path)
    with pytest.raises(GenbenchError, match="no spaces, newlines"):
        slurm_parameters(dict(suite.slurm), suite_name=suite.name, device="cpu", jobs=None)
    ok = slurm_parameters({"constraint": "a100", "gres": "gpu:a100:2", "mem": "32G"}, suite_name="toy", device="cpu",
                          jobs=None)  # fmt: skip
    assert ok["mem"] == "32G" and ok["gres"] == "gpu:a100:2" and ok["constraint"] == "a100"


# -- YAML -----------------------------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_in_one_line_quickly(toy_plugins, results, tmp_path, capsys):
    path = tmp_path / "bomb.suite.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 600
    with pytest.raises(GenbenchError, match="aliases expand to"):
        load_suite(path)
    start = time.monotonic()
    code, out, err = genbench(capsys, "suite", "status", str(path), "--results-dir", str(results))
    one_line(code, out, err)
    assert "YAML bomb" in err and time.monotonic() - start < 30  # it hung past 45 s at 1.1 GB


def test_a_huge_or_deep_yaml_file_is_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "a" * MAX_YAML_BYTES)
    with pytest.raises(GenbenchError, match="allowed: refused"):
        load_yaml(big, "benchmark file")
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(GenbenchError, match="deeply|cannot read"):
        load_yaml(deep, "benchmark file")
    fine = tmp_path / "fine.yaml"
    fine.write_text("a: &x [1, 2]\nb: *x\n")
    assert load_yaml(fine, "suite file") == {"a": [1, 2], "b": [1, 2]}


def test_a_benchmark_name_that_is_no_safe_name_is_refused(tmp_path):
    from genbench.benchmarks import load_benchmark

    path = tmp_path / "evil.yaml"
    path.write_text("name: ../../evil\nversion: 1\ndataset: digits\nbudgets: {smoke: 10}\n"
                    "eval: {num_samples: {smoke: 10}}\n")  # fmt: skip
    with pytest.raises(GenbenchError, match="not a safe name"):
        load_benchmark(path)


# -- numeric options --------------------------------------------------------------------------------

TOY = ["toy", "--dataset", "digits", "--budget", "smoke", "--device", "cpu"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--threads", "100000"], "--threads 100000: give 0 (the default) to"),
        (["--threads", "-1"], "--threads -1"),
        (["--nproc", "-1"], "--nproc -1"),
        (["--nproc", "100000"], "--nproc 100000: this machine runs at most"),
        (["--seed", "-1"], "--seed -1: give 0 to 2147483647"),
        (["--seed", "99999999999"], "--seed 99999999999"),
    ],
)
def test_numeric_run_options_have_a_range(toy_plugins, results, capsys, args, needle):
    code, out, err = genbench(capsys, "run", *TOY, "--results-dir", str(results), *args)
    one_line(code, out, err)
    assert needle in err and not results.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--jobs", "0"], "--jobs 0: give 1 to"),
        (["--jobs", "100000"], "--jobs 100000: give 1 to"),
        (["--seeds", "0-100000000"], "give at most 1000 seeds"),
        (["--seeds", "-5"], "--seeds -5"),
    ],
)
def test_numeric_suite_options_have_a_range(toy_plugins, results, tmp_path, capsys, args, needle):
    path = tmp_path / "toy.suite.yaml"
    path.write_text(SUITE.format(name="toy"))
    code, out, err = genbench(capsys, "suite", "run", str(path), "--results-dir", str(results), *args)
    one_line(code, out, err)
    assert needle in err


def test_seeds_in_range_still_parse():
    assert parse_seeds("0-2,7") == (0, 1, 2, 7)
    with pytest.raises(GenbenchError, match="at most 1000"):
        parse_seeds("0-999,1000")


@pytest.mark.parametrize(("batch", "world"), [(64, 3), (8, 16), (65535, 2), (1, 2)])
def test_the_batch_size_a_process_count_message_suggests_is_accepted(batch, world):
    import re

    from genbench.config import TrainConfig, apply_overrides
    from genbench.engine.distributed import check_batch_size

    with pytest.raises(GenbenchError) as exc:
        check_batch_size(batch, world)
    suggested = [int(n) for n in re.findall(r"train\.batch_size=(\d+)|\(or (\d+)\)", str(exc.value)) for n in n if n]
    assert suggested, str(exc.value)
    for size in suggested:
        assert size % world == 0 and size >= 1
        apply_overrides(TrainConfig(), {"batch_size": str(size)})  # the CLI accepts it: no error


# -- downloads and images -----------------------------------------------------------------------------


def test_cyclegan_archives_come_over_https():
    from genbench.data.pairs import CYCLEGAN_URL

    assert CYCLEGAN_URL.startswith("https://")


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_archives_unpack_only_images_inside_the_data_folder(tmp_path):
    from genbench.data.pairs import unpack_images

    archive = tmp_path / "h2z.zip"
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    archive.write_bytes(_zip({"h2z/trainA/1.png": png.getvalue(), "h2z/README.txt": b"x", "h2z/trainA/x.sh": b"rm"}))
    root = tmp_path / "data"
    root.mkdir()
    unpack_images(archive, root, "h2z")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == ["h2z/trainA/1.png"]
    for bad in ("../escape.png", "h2z/trainA/../../../escape.png", "/tmp/abs.png"):
        archive.write_bytes(_zip({bad: png.getvalue()}))
        with pytest.raises(GenbenchError, match="leaves"):
            unpack_images(archive, root, "h2z")
    assert not (tmp_path / "escape.png").exists()


def test_an_archive_that_unpacks_past_the_limit_is_refused(tmp_path, monkeypatch):
    from genbench.data import pairs

    monkeypatch.setattr(pairs, "MAX_UNPACKED_BYTES", 1_000_000)
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(_zip({"h2z/trainA/big.png": bytes(5_000_000)}))  # 5 MB of zeros, a few kB packed
    assert archive.stat().st_size < 50_000
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(GenbenchError, match="unpacks to over"):
        pairs.unpack_images(archive, root, "h2z")
    written = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert written <= 1_000_000 + 2**20  # stopped at the limit (one block over at most)


def test_a_member_that_inflates_like_a_bomb_is_refused_under_the_total_limit(tmp_path):
    from genbench.data import pairs

    archive = tmp_path / "bomb.zip"  # the review's attack: a 0.3 MB zip that became a 315 MB file
    archive.write_bytes(_zip({"h2z/trainA/x.jpg": bytes(315 * 2**20)}))
    assert archive.stat().st_size < 400_000
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(GenbenchError, match="inflates over 50x"):
        pairs.unpack_images(archive, root, "h2z")
    assert (root / "h2z" / "trainA" / "x.jpg").stat().st_size <= 50 * archive.stat().st_size + 2**20


def test_an_image_over_the_pixel_limit_is_one_line(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    from genbench.data import pairs

    folder = tmp_path / "trainA"
    folder.mkdir()
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(folder / "a.png")
    monkeypatch.setattr(pairs, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(GenbenchError, match="40 x 30 pixels, over the 1,000 allowed"):
        pairs.read_folder(folder, 8)
    # Pillow's own bomb guard (an image over twice its limit) is one line too, not a traceback.
    monkeypatch.setattr(pairs, "MAX_IMAGE_PIXELS", 10**9)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(GenbenchError, match="too large to decode safely"):
        pairs.read_folder(folder, 8)


def test_an_image_folder_with_a_huge_png_is_one_line_from_the_cli(tmp_path, results, capsys, monkeypatch):
    from genbench.data import pairs

    data = tmp_path / "data" / "horse2zebra"
    for split in pairs.SPLITS:
        (data / split).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(data / split / "a.png")
    Image.new("1", (8000, 6000)).save(data / "trainA" / "huge.png")  # 48 MP: over the 40 MP limit
    code, out, err = genbench(capsys, "run", "cyclegan", "--dataset", "horse2zebra", "--budget", "smoke", "--device",
                              "cpu", "--data-dir", str(tmp_path / "data"), "--results-dir", str(results))  # fmt: skip
    one_line(code, out, err)
    assert "huge.png is 8000 x 6000 pixels" in err
