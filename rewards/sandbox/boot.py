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
one, as ``python3`` prints it) and exits 1; ``sys.exit`` behaves as usual.

With ``--prepared FD`` (:mod:`rewards.sandbox.prepared`: a sandbox started before its program is known)
the boot does all of the above that does not need the program, calls ``compile()`` once on nothing (so
the program's own compile does not pay for building the ``ast`` types), then blocks reading one byte from
the go pipe ``FD``; the host writes ``main.py`` and the program's stdin before that byte, and the boot
closes ``FD`` before the program's first line. Python 3.8+, stdlib only.
"""

import sys

CREDITS = """\
    Thanks to CWI, CNRI, BeOpen.com, Zope Corporation and a cast of thousands
    for supporting Python development.  See www.python.org for more information."""  # site's own text
SITE_DIRS = None  # a tuple of directories, set by rewards.sandbox.scripts in the compiled file


class Printer:
    """``site``'s ``copyright``, ``credits`` and ``license``, made on first use: ``_sitebuiltins._Printer``
    imports ``os`` when made, about 2 ms of a start under ``-S``, for builtins programs rarely touch."""

    def __init__(self, *args):  # type: ignore[no-untyped-def]
        self.args, self.made = args, None

    def real(self):  # type: ignore[no-untyped-def]
        if self.made is None:
            import _sitebuiltins

            self.made = _sitebuiltins._Printer(*self.args)
        return self.made

    def __repr__(self):  # type: ignore[no-untyped-def]
        return repr(self.real())

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.real()()


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
    builtins.copyright = Printer("copyright", sys.copyright)
    builtins.credits = Printer("credits", CREDITS)
    stdlib = getattr(sys, "_stdlib_dir", None)
    places = ([stdlib + "/..", stdlib, "."], ["LICENSE.txt", "LICENSE"]) if stdlib else ([], [])
    builtins.license = Printer("license", "See https://www.python.org/psf/license/", places[1], places[0])
    if sys.argv[1:2] == ["--prepared"]:
        import posix

        compile("", "<boot>", "exec", dont_inherit=True)  # the ast types, built before the program is known
        go = int(sys.argv[2])
        if posix.read(go, 1) != b"\x01":  # end of file: the host let this sandbox go unused
            posix._exit(0)
        posix.close(go)  # the host wrote main.py and the program's stdin before the byte
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
