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
#                                    submit one array: write the RECORDs (16 launch
#                                    fields per job, as wrapper.sh takes them) to the
#                                    file BATCH, run sbatch WORDs --array over them,
#                                    and note the Slurm id of each job in its folder
#                                    (.meshq-slurm: "ATTEMPT ID") before answering
#                                    Y KEY ok ID; or, refused, write fail_start in
#                                    each job's log and answer Y KEY refused MESSAGE
#   SI KEY (JOBDIR ATTEMPT)...       the Slurm ids noted for those attempts:
#                                    Y KEY ID... (empty where none)
#   SK KEY (JOBDIR ATTEMPT LOG)...   mark attempts as killed on request (the
#                                    wrapper's .meshq-kill-N and a kill line in
#                                    the log), before meshq runs scancel: Y KEY ok

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
    local key=$1 script=$2 batch=$3 chdir=$4 nwords=$5 out rc id i n msg jobdir now
    shift 5
    local -a words=("${@:1:nwords}")
    shift "$nwords"
    # positional parameters are a list (each ${@:k:1} walks it): use an array
    local -a rec=("$@")
    n=$((${#rec[@]} / 16))
    meshq_expand_home "$script"; script=$REPLY
    meshq_expand_home "$batch"; batch=$REPLY
    meshq_expand_home "$chdir"; chdir=$REPLY
    # a manager (or its ssh connection) that goes away now must not stop us
    # between sbatch and the notes of what it did
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
        for ((i = 0; i < n; i++)); do
            meshq_expand_home "${rec[i * 16 + 2]}"; jobdir=$REPLY
            [[ -d $jobdir ]] || mkdir -p -- "$jobdir" 2>/dev/null
            printf '%s %s\n' "${rec[i * 16 + 1]}" "${id}_$i" > "$jobdir/.meshq-slurm" 2>/dev/null
        done
        meshq_notify Y "$key" ok "$id"
    else
        msg=${out//[$'\t\r']/ }
        msg=${msg//$'\n'/ / }
        [[ -n $msg ]] || msg="sbatch failed with exit status $rc"
        meshq_now; now=$REPLY
        for ((i = 0; i < n; i++)); do
            meshq_expand_home "${rec[i * 16 + 2]}"; jobdir=$REPLY
            printf 'fail_start %s %s %s\n' "${rec[i * 16 + 1]}" "$now" "$msg" \
                >> "$jobdir/${rec[i * 16 + 13]}" 2>/dev/null
        done
        meshq_notify Y "$key" refused "$msg"
    fi
    trap - HUP
}

meshq_op_SI() {
    local key=$1 att id
    shift
    local -a ids=()
    while (($# >= 2)); do
        meshq_expand_home "$1"
        att="" id=""
        read -r att id _ < "$REPLY/.meshq-slurm" 2>/dev/null
        [[ $att == "$2" ]] || id=""
        ids+=("$id")
        shift 2
    done
    meshq_notify Y "$key" "${ids[@]}"
}

meshq_op_SK() {
    local key=$1 now
    shift
    meshq_now; now=$REPLY
    while (($# >= 3)); do
        meshq_expand_home "$1"
        : > "$REPLY/.meshq-kill-$2" 2>/dev/null
        printf 'kill %s %s\n' "$2" "$now" >> "$REPLY/$3" 2>/dev/null
        shift 3
    done
    meshq_notify Y "$key" ok
}
