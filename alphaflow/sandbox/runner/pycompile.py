"""Compiles a Python solution to a marshalled code object, in a limited child of the runner.

``python3 -S pycompile.py SOURCE CODE_FILE [--site]``: a syntax error is the compile error (its
traceback on stderr, exit 1). With ``--site`` it also prints the interpreter's site-packages
directories, which the solution gets back without running ``site``.
"""

import marshal
import sys


def main() -> None:
    source_path, code_file = sys.argv[1:3]
    with open(source_path, "rb") as handle:
        source = handle.read()
    code = compile(source, source_path, "exec", dont_inherit=True)
    with open(code_file, "wb") as handle:
        handle.write(marshal.dumps(code))
    if "--site" in sys.argv[3:]:
        import site

        print("\n".join(site.getsitepackages()))


if __name__ == "__main__":
    main()
