"""Task family v2 of the miniature (docs/miniature.md, "Task family v2"): several salient scenes per video, a
question that names one of them in many phrasings, blinks only a crop can see, counterfactual questions answered
"none", and held-out sets for new seeds, new phrasings, new lengths and absent scenes. v1 (`miniature.task`)
stays as it is; nothing here changes what v1 generates."""
