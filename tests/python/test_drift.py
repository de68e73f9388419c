# SPDX-License-Identifier: MIT
"""The protocol is defined once, in include/agentid/*.h. These tests fail
when the Python client drifts from it: a stale generated _protocol.py, an
error without its exception class, a method the client calls that the
headers do not define, a version that differs from configure.ac's."""
import importlib.util
import os
import re
import shutil
import tempfile
import tomllib
import unittest

import agentid
from agentid import _protocol, errors

from support import TOP_SRCDIR

SPEC = importlib.util.spec_from_file_location("gen_protocol", os.path.join(TOP_SRCDIR, "python", "gen_protocol.py"))
gen_protocol = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(gen_protocol)


def header_defines():
    """Every AGENTID_ define of the protocol headers, parsed here on its own
    (not by the generator), as {NAME: raw text}."""
    out = {}
    for header in gen_protocol.HEADERS:
        with open(os.path.join(TOP_SRCDIR, header), encoding="utf-8") as f:
            for m in re.finditer(r"^#define AGENTID_([A-Z0-9_]+)\s+(.+?)\s*$", f.read(), re.M):
                out[m.group(1)] = m.group(2)
    return out


class GeneratedFileTest(unittest.TestCase):
    def test_generated_file_is_current(self):
        with open(os.path.join(TOP_SRCDIR, gen_protocol.OUTPUT), encoding="utf-8") as f:
            committed = f.read()
        self.assertEqual(committed, gen_protocol.render(TOP_SRCDIR),
                         "python/agentid/_protocol.py is stale: run python3 python/gen_protocol.py")

    def test_the_package_uses_the_generated_file(self):
        # The module the tests import is the one checked above.
        with open(_protocol.__file__, encoding="utf-8") as f:
            self.assertEqual(f.read(), gen_protocol.render(TOP_SRCDIR))

    def test_a_changed_header_is_detected(self):
        # The check above can fail: rename a method in a copy of the headers.
        with tempfile.TemporaryDirectory() as top:
            for header in gen_protocol.HEADERS:
                os.makedirs(os.path.join(top, os.path.dirname(header)), exist_ok=True)
                shutil.copy(os.path.join(TOP_SRCDIR, header), os.path.join(top, header))
            os.makedirs(os.path.join(top, "python", "agentid"))
            shutil.copy(_protocol.__file__, os.path.join(top, gen_protocol.OUTPUT))
            self.assertEqual(gen_protocol.main(["--check", top]), 0)
            path = os.path.join(top, "include/agentid/protocol.h")
            with open(path, encoding="utf-8") as f:
                text = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace('"io.agentid.Mint"', '"io.agentid.MintIdentity"')
                        .replace("(16 * 1024)", "(32 * 1024)"))
            self.assertEqual(gen_protocol.main(["--check", top]), 1)
            rendered = gen_protocol.render(top)
            self.assertIn("METHOD_MINT = 'io.agentid.MintIdentity'", rendered)
            self.assertIn("REQUEST_MAX = 32768", rendered)

    def test_values_match_an_independent_parse(self):
        defines = header_defines()
        self.assertGreater(len(defines), 40)
        for name, raw in defines.items():
            value = getattr(_protocol, name)
            if raw.startswith('"'):
                self.assertEqual(f'"{value}"', raw, name)
            else:
                digits = [int(d) for d in re.findall(r"\d+", re.sub(r"U?INT\d+_C", "", raw))]
                product = 1
                for d in digits:
                    product *= d
                self.assertEqual(value, product, f"{name} = {raw}")


class ErrorsTest(unittest.TestCase):
    def test_every_error_has_its_class(self):
        names = {v for k, v in header_defines().items() if k.startswith("ERROR_")}
        self.assertEqual(set(errors.ERROR_CLASSES), {v.strip('"') for v in names})
        for wire, cls in errors.ERROR_CLASSES.items():
            self.assertEqual(cls.__name__, wire.rsplit(".", 1)[1])
            self.assertIs(getattr(agentid, cls.__name__), cls)
            self.assertIn(cls.__name__, agentid.__all__)
            self.assertTrue(issubclass(cls, agentid.BrokerError))

    def test_every_error_class_is_a_header_error(self):
        for cls in agentid.BrokerError.__subclasses__():
            self.assertIn(cls.wire_name, _protocol.ERRORS.values())

    def test_documented_errors_are_in_the_headers(self):
        # docs/protocol.md's error tables name exactly the headers' errors.
        with open(os.path.join(TOP_SRCDIR, "docs/protocol.md"), encoding="utf-8") as f:
            documented = set(re.findall(r"^\| `(io\.agentid\.[A-Za-z]+)` \|", f.read(), re.M))
        documented |= {"io.agentid.NoSuchRequest"}  # docs/protocol.md names it in prose
        self.assertEqual(documented, set(_protocol.ERRORS.values()))


class MethodsTest(unittest.TestCase):
    def test_client_calls_only_header_methods(self):
        # Every METHOD_ constant the client source uses exists; no wire
        # name is spelled out by hand.
        pkg = os.path.dirname(agentid.__file__)
        used = set()
        for name in os.listdir(pkg):
            if not name.endswith(".py") or name == "_protocol.py":
                continue
            with open(os.path.join(pkg, name), encoding="utf-8") as f:
                text = f.read()
            spelled = re.search(r"[\"']io\.agentid\.[A-Z]\w*", text)
            self.assertIsNone(spelled, f"{name} spells a wire name by hand: {spelled and spelled.group(0)}")
            used |= set(re.findall(r"_protocol\.(METHOD_[A-Z_]+)", text))
        self.assertTrue(used)
        for m in used:
            self.assertTrue(hasattr(_protocol, m), m)
        for m in ("METHOD_MINT", "METHOD_LIST", "METHOD_SHOW", "METHOD_REVOKE", "METHOD_STATUS", "METHOD_RUN",
                  "METHOD_SIGNAL", "METHOD_ISSUE_TOKEN", "METHOD_VERIFY_TOKEN", "METHOD_ISSUE_GRANT",
                  "METHOD_REDEEM_GRANT", "METHOD_STEP_UP_LIST", "METHOD_STEP_UP_DECIDE"):
            self.assertIn(m, used)


class MakefileTest(unittest.TestCase):
    """`make install` and `make dist` list the files one by one: a module
    added to the package but not to Makefile.am would be missing from the
    installed package."""

    def listed(self, variable):
        with open(os.path.join(TOP_SRCDIR, "Makefile.am"), encoding="utf-8") as f:
            text = f.read().replace("\\\n", " ")
        found = set()
        for m in re.finditer(rf"^{re.escape(variable)}\s*\+?=(.*)$", text, re.M):
            found |= set(m.group(1).split())
        return found

    def test_package_files_are_installed(self):
        pkg = os.path.join(TOP_SRCDIR, "python", "agentid")
        have = {f"python/agentid/{n}" for n in os.listdir(pkg) if n.endswith(".py") or n == "py.typed"}
        self.assertEqual(self.listed("PYTHON_PACKAGE"), have)

    def test_tests_are_distributed(self):
        here = os.path.join(TOP_SRCDIR, "tests", "python")
        have = {f"tests/python/{n}" for n in os.listdir(here) if n.endswith(".py")}
        self.assertLessEqual(have, self.listed("EXTRA_DIST"))


class VersionTest(unittest.TestCase):
    def test_one_version(self):
        with open(os.path.join(TOP_SRCDIR, "configure.ac"), encoding="utf-8") as f:
            ac = re.search(r"AC_INIT\(\[agentid\], \[([^\]]+)\]", f.read()).group(1)
        with open(os.path.join(TOP_SRCDIR, "python", "pyproject.toml"), "rb") as f:
            py = tomllib.load(f)["project"]["version"]
        self.assertEqual(ac, py)
        self.assertEqual(agentid.__version__, py)


if __name__ == "__main__":
    unittest.main()
