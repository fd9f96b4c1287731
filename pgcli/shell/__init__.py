"""The shell: the command line (cli), experiments as it runs them (experiment, runner, executors),
specs and expectations (spec, expect, checking), results on disk (atomic), figures and reports
(plot, stats, htmlpage), and the Python API (api). Click, matplotlib, Dask and tqdm live here only.
"""
