"""The suite: profiles (:mod:`.profiles`) expanded into notebook steps (:mod:`.plan`), executed by papermill
(:mod:`.launchers`, :mod:`.runner`), locally or as SLURM arrays (:mod:`.slurm`); JupyterLab on the project
(:mod:`.lab`)."""
