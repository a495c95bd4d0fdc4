# Provenance of each sample: results/<sample>/provenance.json (cellpipe.provenance; README.md,
# "Provenance and replay").
#
# The command line. A job script never sees the snakemake command line, and a params value computed
# from sys.argv at parse time would differ in every cluster job (each re-parses the workflow with its
# own command line) and, params being a rerun trigger, would rerun the rule at every invocation. So
# the main process alone writes its command line when it starts, to INVOCATION (common.smk): Snakemake
# runs onstart only in the main process, never in a dry run and never in a job (jobs are spawned with
# --no-hooks). record_provenance reads that file at run time without declaring it as an input, and it
# is removed when the run ends, so a later run with --no-hooks records no command rather than a stale one.


# A workflow has one handler of each kind: they also register the run in the results folder and record
# its lock files (start_run, end_run: interruptions.smk, included after this file; the handlers run after
# parsing). start_run comes first: a run it stops must not overwrite the command line of the run that
# holds the results folder.
onstart:
    start_run()
    record_invocation()


onsuccess:
    forget_invocation()
    end_run()


onerror:
    forget_invocation()
    end_run()


rule record_provenance:
    """provenance.json: sha256 of every input, resolved config, each job's settings, versions, model, device, command, timings."""
    input:
        unpack(provenance_inputs),
    output:
        provenance=PROVENANCE,
    params:
        config=CFG.model_dump(mode="json"),
        # what each job of the sample got as its settings param; a changed one reruns this job too
        job_settings=provenance_job_settings,
        model_path=CELLPOSE_MODEL,
        invocation=INVOCATION,
    log:
        log_of("record_provenance"),
    benchmark:
        benchmark_of("record_provenance")
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(30),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/record_provenance.py"
