"""A minimal PEP 517 / PEP 660 build backend, standard library only.

It exists so that `pip install ./clients/python` works with no network:
pip's isolated build environment needs nothing installed (requires = []).
It packs src/lanlobby into a pure-Python wheel; metadata comes from
pyproject.toml's [project] table (name, version, description,
requires-python).
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
PACKAGE = "lanlobby"


def _project():
    text = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    try:
        import tomllib  # Python 3.11+
        return tomllib.loads(text)["project"]
    except ImportError:
        section = text.split("[project]", 1)[1].split("\n[", 1)[0]
        return dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]*)"', section, re.M))


def _names():
    p = _project()
    return p["name"], p["version"], p


def _dist_info(p):
    name, version = p["name"], p["version"]
    meta = ["Metadata-Version: 2.1", "Name: " + name, "Version: " + version]
    if p.get("description"):
        meta.append("Summary: " + p["description"])
    if p.get("requires-python"):
        meta.append("Requires-Python: " + p["requires-python"])
    readme = os.path.join(ROOT, "README.md")
    body = ""
    if os.path.exists(readme):
        meta.append("Description-Content-Type: text/markdown")
        body = "\n" + open(readme, encoding="utf-8").read()
    wheel = "Wheel-Version: 1.0\nGenerator: lanlobby_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    return {"METADATA": "\n".join(meta) + "\n" + body, "WHEEL": wheel}


def _digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _write_wheel(wheel_directory, files):
    name, version, p = _names()
    dist = "%s-%s.dist-info" % (name, version)
    fname = "%s-%s-py3-none-any.whl" % (name, version)
    for k, v in _dist_info(p).items():
        files[dist + "/" + k] = v.encode("utf-8")
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, fname), "w", zipfile.ZIP_DEFLATED) as z:
        for arc in sorted(files):
            z.writestr(arc, files[arc])
            record.append("%s,%s,%d" % (arc, _digest(files[arc]), len(files[arc])))
        record.append(dist + "/RECORD,,")
        z.writestr(dist + "/RECORD", "\n".join(record) + "\n")
    return fname


def _package_files():
    files = {}
    for d, dirs, names in os.walk(os.path.join(SRC, PACKAGE)):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        for n in names:
            if n.endswith((".py", ".typed")):
                full = os.path.join(d, n)
                files[os.path.relpath(full, SRC).replace(os.sep, "/")] = open(full, "rb").read()
    return files


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, p = _names()
    dist = "%s-%s.dist-info" % (name, version)
    os.makedirs(os.path.join(metadata_directory, dist), exist_ok=True)
    for k, v in _dist_info(p).items():
        with open(os.path.join(metadata_directory, dist, k), "w", encoding="utf-8") as f:
            f.write(v)
    return dist


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, {"_lanlobby_editable.pth": (SRC + "\n").encode()})


def build_sdist(sdist_directory, config_settings=None):
    name, version, _ = _names()
    base = "%s-%s" % (name, version)
    fname = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, fname), "w:gz") as t:
        for rel in ("pyproject.toml", "README.md", "_build", "src"):
            full = os.path.join(ROOT, rel)
            if os.path.exists(full):
                t.add(full, base + "/" + rel, filter=lambda ti: None if "__pycache__" in ti.name else ti)
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = _dist_info(_project())["METADATA"].encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return fname
