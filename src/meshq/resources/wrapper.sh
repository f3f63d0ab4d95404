# meshq job wrapper: the one piece of code that runs every job on a host.
#
# It is defined as a function so that the host agent (agent.sh) can start a
# job with a fork instead of a new bash process. It needs bash >= 4.3 and,
# for the pid-reuse guard, Linux's /proc (elsewhere it falls back to ps).
#
# In the job directory it writes the command's stdout and stderr, and a state
# log of lines that are the truth about the job on this host:
#   start   ATTEMPT PID PSTART TIME
#   end     ATTEMPT EXIT_CODE TIME        (any exit code; meshq reads 0 as end, else fail)
#   kill    ATTEMPT TIME                  (written by whoever kills the job)
#   timeout ATTEMPT TIME                  (written when the time limit fires)
#   fail_start ATTEMPT TIME MESSAGE       (the job could not be started)
#   fenced  ATTEMPT TIME                  (a later run took the attempt over first)
#   crash   ATTEMPT TIME REASON           (written by the manager, see agent.sh)
# and reports the same events to the manager on file descriptor 3, one
# tab-separated line each, when the manager is still listening.
#
# The files of the latest attempt are where they always were; a new attempt
# first moves those of the one before into attempts/N/ in the job directory
# (N: the attempt named on the old log's first line), so every attempt keeps
# its own output (meshq/paths.py: attempt_paths reads them back there).
#
# Before anything else a wrapper claims its attempt by creating the file
# .meshq-attempt-N in the job directory, exclusively (bash's noclobber is
# O_EXCL: no process is forked for it). A manager that must decide whether a
# launch it cannot see was lost creates the same file first ("fences" the
# attempt, agent op X): exactly one of the two wins, so a launch still on its
# way when a run died can never start after the job was given to another.

meshq_now() {
    # $EPOCHREALTIME (bash 5) has microseconds; older bash: whole seconds
    if [[ -n ${EPOCHREALTIME:-} ]]; then REPLY=${EPOCHREALTIME/,/.}; else printf -v REPLY '%(%s)T' -1; fi
}

meshq_pstart() {
    # the process's start time in clock ticks since boot: with the pid, it
    # names one process for good, so a reused pid is never mistaken for ours
    local -a f
    if read -r -a f < "/proc/$1/stat" 2>/dev/null; then
        if [[ ${f[1]} == *")" ]]; then
            REPLY=${f[21]}  # the usual case: a name without spaces
        else
            local stat
            read -r stat < "/proc/$1/stat"
            stat=${stat##*) }
            f=($stat)
            REPLY=${f[19]}
        fi
    else
        REPLY=$(LC_ALL=C ps -o lstart= -p "$1" 2>/dev/null) || REPLY=""
        REPLY=${REPLY// /_}
    fi
}

meshq_notify() {
    # the manager may be gone: a failed write must neither stop nor kill us
    local IFS=$'\t'
    printf '%s\n' "$*" >&3 2>/dev/null || true
}

declare -A meshq_shells=()

meshq_have_shell() {
    # is the shell $1 installed? Asked once per shell: the agent asks before
    # it forks a job, so its answer (and bash's hash of the path, which
    # spares each job's exec a walk along PATH) is inherited by every job
    [[ -n ${meshq_shells[$1]:-} ]] && return 0
    local path
    path=$(type -P -- "$1") || return 1
    [[ $1 == */* ]] || hash -p "$path" -- "$1"
    meshq_shells[$1]=$path
}

meshq_expand_home() {
    # "~" and "~/x" as the user means them; nothing else is expanded
    case $1 in
        "~") REPLY=$HOME ;;
        "~/"*) REPLY=$HOME/${1#"~/"} ;;
        *) REPLY=$1 ;;
    esac
}

meshq_claim() {
    # create the attempt's claim file $1 holding $2, failing if it exists
    local rc
    set -C
    { printf '%s\n' "$2" > "$1"; } 2>/dev/null
    rc=$?
    set +C
    return $rc
}

meshq_keep_attempt() {
    # move an earlier attempt's files ($1 out, $2 err, $3 log, in the job
    # directory) into attempts/N/; N is on the old log's first line. Best
    # effort: if it cannot, the new attempt appends to them as before
    local kind prev=""
    # a regular file only: a log that is something else (a device, a pipe)
    # is no earlier attempt's, and reading it might never end
    [[ -f $3 ]] || return 0
    read -r kind prev _ < "$3" 2>/dev/null
    [[ $prev =~ ^[0-9]+$ ]] || return 0
    mkdir -p -- "attempts/$prev" 2>/dev/null && mv -f -- "$1" "$2" "$3" "attempts/$prev/" 2>/dev/null
    return 0
}

# The names a shell gives a meaning of its own as a command's first word
# (bash's builtins and keywords). Empty until meshq_learn_shell_words,
# which turns meshq_plain off: the agent learns them once (a process), and
# every job it forks inherits them; a Slurm batch script, one process a
# job, does not, as learning them would cost each job what it saves.
declare -A meshq_shell_words=()

meshq_learn_shell_words() {
    local words w
    local -a list
    words=$(compgen -b -k 2>/dev/null) || return 0
    mapfile -t list <<< "$words"  # one a line, no word splitting or globbing
    for w in "${list[@]}"; do [[ -n $w ]] && meshq_shell_words[$w]=1; done
}

meshq_plain() {
    # Would "$1 -c $2" do nothing but run a program with the words of $2?
    # Then the job runs that program itself and no shell starts in between
    # (GNU make's fast path): bash's start is about a third of what the
    # agent and the wrapper spend on a short job. Yes only when every word
    # is plain (letters, digits and _ . / : , + @ % = -: nothing a shell
    # expands, quotes, redirects, joins or comments), the shell is bash or
    # sh (and bash would not first read $BASH_ENV), and the first word is a
    # program that exists, not a builtin, keyword or function, an
    # assignment or an option. The process is the same either way: a shell
    # given one simple command execs it. Sets WORDS.
    case ${1##*/} in
        sh) ;;
        bash) [[ -z ${BASH_ENV:-} ]] || return 1 ;;
        *) return 1 ;;
    esac
    ((${#meshq_shell_words[@]})) || return 1
    [[ $2 =~ ^[A-Za-z0-9_./:,+@%=-]+(\ +[A-Za-z0-9_./:,+@%=-]+)*$ ]] || return 1
    # words split at spaces, as a shell splits them: the pattern above lets
    # no quote, glob or expansion through (an older bash would make a here
    # string a temporary file)
    local IFS=' '
    # shellcheck disable=SC2206
    WORDS=($2)
    local first=${WORDS[0]}
    [[ $first != -* && $first != *=* && -z ${meshq_shell_words[$first]:-} ]] || return 1
    ! declare -F -- "$first" > /dev/null || return 1
    if [[ $first == */* ]]; then
        [[ -f $first && -x $first ]]
    else
        hash -- "$first" 2> /dev/null
    fi
}

# how many arguments meshq_wrap takes: the fields of one launch (the agent's
# L request, one job's record in a Slurm batch file; launch_fields in agent.py)
meshq_launch_fields=17

meshq_wrap() {
    local key=$1 attempt=$2 jobdir=$3 workdir=$4 shell=$5 command=$6 gpu=$7 pyenv=$8
    local timeout=$9 queue=${10} name=${11} index=${12} out=${13} log=${14} err=${15}
    local input=${16} env=${17:-}
    local me=$BASHPID rc=0 cpid spid="" state="" terminated="" problem=""

    trap '' PIPE
    # nothing of ours is worth a line on stderr, and nobody reads it: one
    # redirection here, not one per command (each is an open, dups and a
    # close). meshq_wrap always runs in a process of its own (started with &)
    exec 2>/dev/null
    # note a signal meant for the job's whole group (a kill, a time limit, a
    # cluster ending the job): we stay to write how the command ended
    trap 'terminated=15' TERM
    trap 'terminated=2' INT
    trap 'terminated=1' HUP

    meshq_expand_home "$jobdir"; jobdir=$REPLY
    # mkdir is a new process, the most a job would otherwise cost us: the
    # agent's perl made the folder before forking us (agent.sh), the
    # manager ahead in a batch (agent op M), or a Slurm job's batch script;
    # on a host without perl it is made here
    if ! { [[ -d $jobdir ]] || mkdir -p -- "$jobdir"; } || ! cd -- "$jobdir"; then
        meshq_notify F "$key" "$attempt" "cannot create or enter the job directory $jobdir"
        return
    fi
    meshq_pstart "$me"; local pstart=$REPLY
    if ! meshq_claim ".meshq-attempt-$attempt" "$me $pstart"; then
        meshq_now
        if [[ -e .meshq-attempt-$attempt ]]; then
            # fenced: a later run decided this launch was lost and took the
            # job over; it must not start. Nobody waits for word of it.
            printf 'fenced %s %s\n' "$attempt" "$REPLY" >> "$log"
        else
            meshq_notify F "$key" "$attempt" "cannot write in the job directory $jobdir"
        fi
        return
    fi
    meshq_keep_attempt "$out" "$err" "$log"
    meshq_expand_home "${workdir:-$jobdir}"; workdir=$REPLY
    if [[ -n $pyenv ]]; then
        meshq_expand_home "$pyenv"; pyenv=$REPLY
        [[ -d $pyenv ]] && pyenv=$pyenv/bin/activate
    fi
    if [[ ! -d $workdir ]]; then
        # one line that says what and how to fix it: the default is the
        # folder the job was added in, which another host may not have
        problem="the working directory $workdir does not exist on this host: create it there, or give the job another with --directory"
    elif [[ -n $pyenv && ! -r $pyenv ]]; then
        problem="the python environment $pyenv cannot be read"
    elif ! meshq_have_shell "$shell"; then
        problem="the shell $shell is not installed"
    elif [[ $out == */* ]] && ! { [[ -d ${out%/*} ]] || mkdir -p -- "${out%/*}"; }; then
        # an output path inside the job's folder (the seed's ./output/NAME)
        problem="cannot create the folder of the output file $jobdir/$out"
    elif ! : >> "$out"; then
        problem="cannot write the output file $jobdir/$out"
    elif ! : >> "$err"; then
        problem="cannot write the error file $jobdir/$err"
    fi
    if [[ -n $problem ]]; then
        meshq_now
        printf 'fail_start %s %s %s\n' "$attempt" "$REPLY" "$problem" >> "$log"
        meshq_notify F "$key" "$attempt" "$problem"
        return
    fi

    meshq_now
    if ! printf 'start %s %s %s %s\n' "$attempt" "$me" "$pstart" "$REPLY" >> "$log"; then
        # the log is the truth about the job on this host: without it, a
        # crash of the manager would leave the job unknowable. Do not start.
        meshq_notify F "$key" "$attempt" "cannot write the job log $jobdir/$log (disk full, or no permission)"
        return
    fi
    meshq_notify S "$key" "$attempt" "$me" "$pstart" "$REPLY"

    (
        # the command gets default signal handling and none of our plumbing
        trap - PIPE TERM INT HUP
        exec 3>&-
        cd -- "$workdir" || exit 126
        export MESHQ_QUEUE=$queue MESHQ_JOB=$name MESHQ_INDEX=$index MESHQ_ATTEMPT=$attempt
        export MESHQ_JOB_DIR=$jobdir
        [[ -n $input ]] && export MESHQ_INPUT=$input
        # NAME=VALUE lines: each exported as data, never read by a shell
        while [[ -n $env ]]; do
            export "${env%%$'\n'*}"
            [[ $env == *$'\n'* ]] && env=${env#*$'\n'} || env=""
        done
        if [[ -n $gpu ]]; then
            export CUDA_VISIBLE_DEVICES=$gpu CUDA_DEVICE_ORDER=PCI_BUS_ID
        fi
        if [[ -n $pyenv ]]; then
            # shellcheck disable=SC1090
            source "$pyenv" || exit 127
        fi
        if meshq_plain "$shell" "$command"; then
            exec -- "${WORDS[@]}"
        fi
        exec "$shell" -c "$command"
    ) < /dev/null >> "$out" 2>> "$err" &
    cpid=$!
    if [[ -n $timeout ]]; then
        sleep "$timeout" &
        spid=$!
    fi

    local waited=0
    while kill -0 "$cpid"; do
        if [[ -n $spid ]]; then wait -n "$cpid" "$spid"; else wait "$cpid"; fi
        rc=$?
        waited=1
        if [[ -n $spid ]] && ! kill -0 "$spid" && kill -0 "$cpid"; then
            # the time limit fired: stop the command's whole process group
            # (us included: our trap only notes it), then force it after a grace
            spid=""
            state=timeout
            meshq_now
            printf 'timeout %s %s\n' "$attempt" "$REPLY" >> "$log"
            kill -TERM -- "-$me"
            ( trap - TERM; sleep "${MESHQ_KILL_GRACE:-5}"; kill -KILL "$cpid" ) &
        fi
    done
    # a wait cut short by a signal did not see the exit code: ask once more.
    # After a wait above, 127 is bash saying it collected the code already;
    # without one (a command that ended before the loop began, such as one
    # not found) this is the first wait, and 127 is the command's own code
    wait "$cpid"
    local last=$?
    if ((!waited)) || [[ $last != 127 ]]; then rc=$last; fi
    if ((rc < 0 || rc > 255)); then
        # bash lost the status (a SIGCONT and a SIGTERM that reach us and
        # the command at once, as Slurm sends them, make wait say -1): the
        # command died of the signal we got, as far as anyone can know
        rc=$((terminated ? 128 + terminated : 255))
    fi
    [[ -n $spid ]] && kill "$spid"
    if [[ -e .meshq-kill-$attempt ]]; then
        state=kill
    elif [[ -z $state ]]; then
        if ((rc == 0)); then state=end; else state=fail; fi
    fi
    meshq_now
    local note=""
    if ! printf 'end %s %s %s\n' "$attempt" "$rc" "$REPLY" >> "$log"; then
        note="the job log $jobdir/$log could not be written at the end (disk full?): its output may be lost"
    fi
    meshq_notify E "$key" "$attempt" "$state" "$rc" "$REPLY" "$note"
    if [[ $state == kill || $state == timeout ]]; then
        # what the command left behind in its process group goes with it
        kill -KILL -- "-$me"
    fi
}
