"""Runs a model's program (``main.py`` beside this file) as ``python3 -I main.py`` would, without ``site``.

The sandbox starts ``python3 -I -B -S /box/boot.pyc`` (:mod:`rewards.sandbox.scripts` compiles this file
for the sandbox's interpreter). Importing ``site`` costs about 5 ms of a 17 ms interpreter start on this
machine's Debian Python (its ``.pth`` hooks, ``sitecustomize``, the apport excepthook); a program needs
only two things from it, which this file provides for a fraction of that:

* the interpreter's site-packages directories on ``sys.path`` (``SITE_DIRS``: filled in, with the plain
  directory lines of their ``.pth`` files, when the file is compiled; ``site.getsitepackages()`` here
  when it runs from source). The ``import`` lines of ``.pth`` files and ``sitecustomize`` do not run;
* the ``exit``, ``quit``, ``help``, ``copyright``, ``credits`` and ``license`` builtins.

The program then runs as ``__main__`` with ``__file__`` ``main.py``'s path, ``sys.argv`` ``[that path]``;
an uncaught exception prints the traceback from the program's own frames (a ``SyntaxError`` without
one, as ``python3`` prints it) and exits 1; ``sys.exit`` behaves as usual. Python 3.8+, stdlib only.
"""

import sys

CREDITS = """\
    Thanks to CWI, CNRI, BeOpen.com, Zope Corporation and a cast of thousands
    for supporting Python development.  See www.python.org for more information."""  # site's own text
SITE_DIRS = None  # a tuple of directories, set by rewards.sandbox.scripts in the compiled file


def boot():  # type: ignore[no-untyped-def]
    import _sitebuiltins
    import builtins

    here = (__file__.rpartition("/")[0] or ".") + "/"
    dirs = SITE_DIRS
    if dirs is None:  # running from source: ask site itself (it is importable under -S; main() does not run)
        import os
        import site

        dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    sys.path.extend(d for d in dirs if d not in sys.path)
    eof = "Ctrl-D (i.e. EOF)"
    builtins.exit, builtins.quit = _sitebuiltins.Quitter("exit", eof), _sitebuiltins.Quitter("quit", eof)
    builtins.help = _sitebuiltins._Helper()
    builtins.copyright = _sitebuiltins._Printer("copyright", sys.copyright)
    builtins.credits = _sitebuiltins._Printer("credits", CREDITS)
    stdlib = getattr(sys, "_stdlib_dir", None)
    places = ([stdlib + "/..", stdlib, "."], ["LICENSE.txt", "LICENSE"]) if stdlib else ([], [])
    builtins.license = _sitebuiltins._Printer("license", "See https://www.python.org/psf/license/", places[1], places[0])
    path = here + "main.py"
    with open(path, "rb") as f:
        source = f.read()
    main = type(sys)("__main__")
    main.__file__, main.__builtins__, main.__cached__ = path, builtins, None
    sys.modules["__main__"] = main
    sys.argv[:] = [path]
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:  # python3 prints it with no traceback
        sys.excepthook(type(exc), exc.with_traceback(None), None)
        sys.exit(1)
    try:
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001  (printed from the program's first frame on, as python3 does)
        tb = exc.__traceback__
        tb = tb.tb_next if tb is not None else None  # our frame off: the traceback starts in the program
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        sys.exit(1)


if __name__ == "__main__":
    boot()
