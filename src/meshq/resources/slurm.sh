# meshq agent extension for a Slurm cluster's login node (see agent.sh: an
# operation OP arrives as OP KEY COUNT FIELD..., and meshq_op_OP answers with
# one line "Y KEY ..."). Every field is data: nothing here is parsed by a
# shell, and Slurm's commands get their options as argv words.
#
#   SW KEY PATH CONTENT              install a helper file (the batch script)
#                                    unless it holds CONTENT already: Y KEY ok|ERROR
#   SR KEY COMMAND ARG...            run one Slurm client command:
#                                    Y KEY EXIT_STATUS STDOUT STDERR
#                                    (newlines in the outputs sent as \x1f)
#   SB KEY SCRIPT BATCH CHDIR NWORDS WORD... RECORD...
#                                    submit one array: write the RECORDs (17 launch
#                                    fields per job, as wrapper.sh takes them) to the
#                                    file BATCH, run sbatch WORDs --array over them,
#                                    and add "BATCHNAME ARRAYID" to the file
#                                    "submitted" beside it before answering
#                                    Y KEY ok ARRAYID; or, refused, write fail_start
#                                    in each job's log and answer Y KEY refused MESSAGE
#   SK KEY (JOBDIR ATTEMPT LOG)...   mark attempts as killed on request (the
#                                    wrapper's .meshq-kill-N and a kill line in
#                                    the log), before meshq runs scancel: Y KEY ok
#
# Job folders are not made here: each job's wrapper makes its own, on its
# compute node (thousands of mkdirs from the login node, one metadata round
# trip each on a cluster file system, would hold every submission up).

meshq_op_SW() {
    local key=$1 path=$2 content=$3 tmp
    meshq_expand_home "$path"; path=$REPLY
    if [[ -r $path && $(< "$path") == "${content%$'\n'}" ]]; then
        meshq_notify Y "$key" ok
        return
    fi
    tmp=$path.$$.tmp
    if { mkdir -p -- "${path%/*}" && printf '%s' "$content" > "$tmp" && mv -f -- "$tmp" "$path"; } 2>/dev/null; then
        meshq_notify Y "$key" ok
    else
        rm -f -- "$tmp" 2>/dev/null
        meshq_notify Y "$key" "cannot write $path"
    fi
}

meshq_errfile=""

meshq_op_SR() {
    local key=$1 out err rc
    shift
    case $1 in
        squeue | sacct | sinfo | scontrol | scancel) ;;
        *) meshq_notify Y "$key" 127 "" "meshq: $1 is not a Slurm command"; return ;;
    esac
    if [[ -z $meshq_errfile ]]; then
        meshq_errfile=$(mktemp "${TMPDIR:-/tmp}/meshq-slurm.XXXXXX") || meshq_errfile=/dev/null
        [[ $meshq_errfile == /dev/null ]] || trap 'rm -f -- "$meshq_errfile"' EXIT
    fi
    out=$("$@" < /dev/null 2> "$meshq_errfile")
    rc=$?
    err=$(< "$meshq_errfile")
    out=${out//$'\t'/ }
    err=${err//$'\t'/ }
    meshq_notify Y "$key" "$rc" "${out//$'\n'/$'\x1f'}" "${err//$'\n'/$'\x1f'}"
}

meshq_op_SB() {
    local key=$1 script=$2 batch=$3 chdir=$4 nwords=$5 out rc id i n msg jobdir now att
    local nf=$meshq_launch_fields
    shift 5
    local -a words=("${@:1:nwords}")
    shift "$nwords"
    # positional parameters are a list (each ${@:k:1} walks it): use an array
    local -a rec=("$@")
    n=$((${#rec[@]} / nf))
    meshq_expand_home "$script"; script=$REPLY
    meshq_expand_home "$batch"; batch=$REPLY
    meshq_expand_home "$chdir"; chdir=$REPLY
    # a manager (or its ssh connection) that goes away now must not stop us
    # between sbatch and the note of what it did
    trap '' HUP
    if ! { mkdir -p -- "${batch%/*}" && printf '%s\0' "${rec[@]}" > "$batch"; } 2>/dev/null; then
        out="cannot write the batch file $batch"
        rc=1
    else
        out=$(sbatch --parsable "${words[@]}" --array="0-$((n - 1))" --no-requeue \
            --output=/dev/null --error=/dev/null --chdir="$chdir" "$script" "$batch" < /dev/null 2>&1)
        rc=$?
    fi
    id=""
    if ((rc == 0)); then
        id=${out##*$'\n'}
        id=${id%%;*}
    fi
    if [[ $id =~ ^[0-9]+$ ]]; then
        # the batch's array id, beside the batch file: what a run that died
        # before it heard the answer finds its jobs' Slurm ids by
        printf '%s %s\n' "${batch##*/}" "$id" >> "${batch%/*}/submitted" 2>/dev/null
        meshq_notify Y "$key" ok "$id"
    else
        msg=${out//[$'\t\r']/ }
        msg=${msg//$'\n'/ / }
        [[ -n $msg ]] || msg="sbatch failed with exit status $rc"
        meshq_now; now=$REPLY
        for ((i = 0; i < n; i++)); do
            # fields in increasing order: bash finds the next array element
            # from the last one it looked up
            att=${rec[i * nf + 1]}
            meshq_expand_home "${rec[i * nf + 2]}"; jobdir=$REPLY
            [[ -d $jobdir ]] || mkdir -p -- "$jobdir" 2>/dev/null
            printf 'fail_start %s %s %s\n' "$att" "$now" "$msg" \
                >> "$jobdir/${rec[i * nf + 13]}" 2>/dev/null
        done
        meshq_notify Y "$key" refused "$msg"
    fi
    trap - HUP
}

meshq_op_SK() {
    local key=$1 now
    shift
    meshq_now; now=$REPLY
    while (($# >= 3)); do
        meshq_expand_home "$1"
        # a job that never started may have no folder yet
        [[ -d $REPLY ]] || mkdir -p -- "$REPLY" 2>/dev/null
        : > "$REPLY/.meshq-kill-$2" 2>/dev/null
        printf 'kill %s %s\n' "$2" "$now" >> "$REPLY/$3" 2>/dev/null
        shift 3
    done
    meshq_notify Y "$key" ok
}
