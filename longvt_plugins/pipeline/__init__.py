"""The data-curation pipeline: stages (`stages/`), the stage runner (`runner`), fast scene cuts (`scenecut`).

Entry points: `longvt pipeline run|stage|status` (commands/pipeline.py) and `runner.run_pipeline(config)`.
Imports nothing heavy here: Ray workers and process-pool children import only what their stage needs.
"""
