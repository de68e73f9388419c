# SPDX-License-Identifier: MIT
"""A minimal PEP 517 build backend for the agentid package, standard library
only, so that `pip install ./python` works offline with no build
dependencies. It builds a pure-Python wheel of agentid/ (and, for
`pip install -e`, an editable wheel that points at the checkout).

It writes only into the directories pip hands it, never into the source
tree (make distcheck builds from a read-only one).
"""
import base64
import hashlib
import io
import os
import tarfile
import tomllib
import zipfile

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE = "agentid"


def _project():
    with open(os.path.join(_HERE, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _metadata():
    p = _project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {p['name']}",
        f"Version: {p['version']}",
        f"Summary: {p['description']}",
        f"Requires-Python: {p['requires-python']}",
        f"License: {p['license']['text']}",
    ]
    lines += [f"Classifier: {c}" for c in p.get("classifiers", [])]
    readme = os.path.join(_HERE, p.get("readme", "README.md"))
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return "\n".join(lines) + "\n\n" + body


def _dist_info(p):
    return f"{p['name']}-{p['version']}.dist-info"


def _wheel_name(p, tag="py3-none-any"):
    return f"{p['name']}-{p['version']}-{tag}.whl"


def _package_files():
    root = os.path.join(_HERE, _PACKAGE)
    for name in sorted(os.listdir(root)):
        if name.endswith(".py") or name == "py.typed":
            yield f"{_PACKAGE}/{name}", os.path.join(root, name)


def _write_wheel(path, entries):
    """entries: [(archive name, bytes)]; adds WHEEL and RECORD."""
    p = _project()
    info = _dist_info(p)
    entries = list(entries) + [
        (f"{info}/METADATA", _metadata().encode("utf-8")),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: agentid_build\nRoot-Is-Purelib: true\n"
                          b"Tag: py3-none-any\n"),
    ]
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        z.writestr(zipfile.ZipInfo(f"{info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0)),
                   "\n".join(record) + "\n")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = _wheel_name(_project())
    _write_wheel(os.path.join(wheel_directory, name), [(a, _read(f)) for a, f in _package_files()])
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name = _wheel_name(_project())
    pth = (_HERE + "\n").encode()
    _write_wheel(os.path.join(wheel_directory, name), [(f"__editable__.{_PACKAGE}.pth", pth)])
    return name


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    base = f"{p['name']}-{p['version']}"
    name = base + ".tar.gz"
    files = [("pyproject.toml", os.path.join(_HERE, "pyproject.toml")),
             ("README.md", os.path.join(_HERE, "README.md")),
             ("_build_backend/agentid_build.py", os.path.abspath(__file__))]
    files += list(_package_files())
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as t:
        for arc, path in files:
            data = _read(path)
            info = tarfile.TarInfo(f"{base}/{arc}")
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
        pkg_info = _metadata().encode("utf-8")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        info.mode = 0o644
        t.addfile(info, io.BytesIO(pkg_info))
    return name
