"""The chapters' studies, above the library: each module holds one question's shipped-result files,
the driver that regenerates them and the tables a chapter and the README print. The library below
(:mod:`mvtutorial.judges`, :mod:`mvtutorial.listening`, ...) knows no chapter, family or asset folder.
"""
