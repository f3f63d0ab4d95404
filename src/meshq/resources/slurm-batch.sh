# meshq Slurm batch job: one array task runs one meshq job through the job
# wrapper (wrapper.sh is prepended to this text), exactly as the host agent
# runs it on other hosts, so the job's .out, .err and state log are the same.
#
# $1 is the submission's batch file: the launch fields of its jobs,
# $meshq_launch_fields per job (meshq_wrap's arguments), NUL-terminated, in array index order. Data
# only: no field is ever parsed by a shell.

meshq_batch() {
    local -a F
    local w kind att code rc=0 nf=$meshq_launch_fields
    # the wrapper's event lines: nobody listens on a compute node (the
    # manager reads the state log instead)
    exec 3>/dev/null
    mapfile -d '' -s $((${SLURM_ARRAY_TASK_ID:-0} * nf)) -n "$nf" -t F < "$1" 2>/dev/null
    if ((${#F[@]} != nf)); then
        printf 'meshq: no job %s in the batch file %s\n' "${SLURM_ARRAY_TASK_ID:-0}" "$1" >&2
        return 1
    fi
    # the job's Slurm id, in its folder, for 'meshq queue logs --follow' on
    # the login node (it follows the file while Slurm runs the job)
    meshq_expand_home "${F[2]}"
    [[ -d $REPLY ]] || mkdir -p -- "$REPLY" 2>/dev/null
    printf '%s %s_%s\n' "${F[1]}" "${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}" \
        "${SLURM_ARRAY_TASK_ID:-0}" > "$REPLY/.meshq-slurm" 2>/dev/null
    # as the agent does: the wrapper leads a process group of its own (its
    # time limit stops that group), and knows where its shell is
    set -m
    meshq_have_shell "${F[4]}"
    # scancel (or a node going down) signals every process of the job: we
    # wait for the wrapper to write how the command ended
    trap 'meshq_signalled=1' TERM INT HUP
    meshq_wrap "${F[@]}" < /dev/null &
    w=$!
    while kill -0 "$w" 2>/dev/null; do
        wait "$w"
    done
    # exit with the command's status, so that sacct tells what meshq tells
    meshq_expand_home "${F[2]}"
    while read -r kind att code _; do
        [[ $kind == end && $att == "${F[1]}" ]] && rc=$code
    done < "$REPLY/${F[13]}" 2>/dev/null
    [[ $rc =~ ^[0-9]+$ ]] || rc=1
    return $((rc > 255 ? 255 : rc))
}

meshq_batch "$@"
