"""python -m comparison.sweep: the paths as streams at a ladder of offered rates (one sweep.json and sweep.html),
one concern a module: the command line (cli), the local OIC stand-in's model (stand_in_model), running one step
(step), judging where a path stops keeping up (judging) and the sweep's document (document)."""
