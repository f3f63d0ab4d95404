# meshq host agent: one bash process per host and run, fed by the manager.
#
# The manager starts it with `bash --noprofile --norc -c AGENT`, locally or
# through one ssh channel, so a host needs nothing installed but bash and
# a job costs no new connection, channel or login shell. (wrapper.sh is
# prepended to this text.)
#
# Requests arrive on stdin as NUL-terminated fields, so no user text is ever
# parsed by a shell; the first field names the operation:
#   L KEY ATTEMPT JOBDIR WORKDIR SHELL COMMAND GPU PYENV TIMEOUT QUEUE NAME INDEX OUT LOG ERR INPUT ENV
#       launch a job (its events follow as S/E/F lines); ENV: NAME=VALUE lines
#       the command sees besides meshq's own variables
#   A KEY ATTEMPT PID PSTART JOBDIR LOG   is the job alive? what does its log say?
#   K KEY ATTEMPT PID PSTART JOBDIR LOG GRACE   kill the job's process group
#   D KEY JOBDIR                          remove a job directory
#   M KEY COUNT DIR...                    make COUNT directories (one mkdir for all)
#   C KEY ATTEMPT LOGPATH REASON          add a crash line to a job's state log
#   X KEY ATTEMPT JOBDIR                  fence an attempt: make sure a launch of it
#                                         that has not started never will
#   P KEY                                 ping
#   OP KEY COUNT FIELD...                 an operation OP (two letters or more) of a
#                                         host kind's extension: the function meshq_op_OP,
#                                         defined by a script prepended to this one
# Replies and events go to stdout, one tab-separated line each:
#   R PROTOCOL HOSTNAME BASH_VERSION HOME once, when ready (HOME: what ~ means here)
#   S KEY ATTEMPT PID PSTART TIME         the command started
#   E KEY ATTEMPT STATE EXIT_CODE TIME    it ended (STATE: end, fail, kill, timeout)
#   F KEY ATTEMPT MESSAGE                 it could not be started
#   A KEY ATTEMPT ALIVE LOGLINES          ALIVE 1/0; LOGLINES: this attempt's log lines, joined by |
#   K KEY ATTEMPT RESULT                  killed, or gone (was not running)
#   D KEY RESULT                          ok, or the error
#   M KEY RESULT                          ok, or the error
#   C KEY ATTEMPT RESULT                  ok, or the error
#   X KEY ATTEMPT RESULT [ALIVE]          fenced; or taken (its wrapper claimed it
#                                         first) and ALIVE 1/0; or the error
#   Y KEY FIELD...                        the answer of an extension operation
#
# Paths arrive absolute or as ~/… (the home of the user the agent runs as),
# never relative: see meshq/paths.py.
#   P KEY pong

set -m          # every job gets its own process group
exec 3>&1       # the wrappers' line back to the manager
trap '' PIPE    # a manager that went away must not take us along mid-write
# bash reports each finished background job on stderr; nobody reads those
exec 2>/dev/null

meshq_alive() {
    # is PID still the process that started at PSTART (and not a zombie
    # that nobody reaped, which kill -0 would count as alive)?
    [[ -n $1 ]] && kill -0 "$1" 2>/dev/null || return 1
    local -a f
    if read -r -a f < "/proc/$1/stat" 2>/dev/null && [[ ${f[1]} == *")" ]]; then
        [[ ${f[2]} != Z && ${f[21]} == "$2" ]]
        return
    fi
    meshq_pstart "$1"
    [[ $REPLY == "$2" ]]
}

meshq_log_lines() {
    # this attempt's lines of the state log, joined by |
    local kind att rest out=""
    [[ -r $1 ]] || { REPLY=""; return; }
    while read -r kind att rest; do
        [[ $att == "$2" ]] || continue
        out+="${out:+|}$kind $att $rest"
    done < "$1"
    REPLY=${out//$'\t'/ }
}

meshq_started() {
    # the pid and start time the log's start line gives the attempt, for a
    # caller that has not heard of the start yet: sets PID and PSTART
    local kind att rest
    [[ -r $1 ]] || return 1
    while read -r kind att rest; do
        if [[ $kind == start && $att == "$2" ]]; then
            read -r PID PSTART _ <<< "$rest"
            return 0
        fi
    done < "$1"
    return 1
}

meshq_check() {
    local key=$1 attempt=$2 PID=$3 PSTART=$4 jobdir=$5 log=$6 alive=0
    meshq_expand_home "$jobdir"; jobdir=$REPLY
    [[ -n $PID ]] || meshq_started "$jobdir/$log" "$attempt"
    meshq_alive "$PID" "$PSTART" && alive=1
    meshq_log_lines "$jobdir/$log" "$attempt"
    meshq_notify A "$key" "$attempt" "$alive" "$REPLY"
}

meshq_kill() {
    local key=$1 attempt=$2 PID=$3 PSTART=$4 jobdir=$5 log=$6 grace=$7 i pid
    meshq_expand_home "$jobdir"; jobdir=$REPLY
    [[ -n $PID ]] || meshq_started "$jobdir/$log" "$attempt"
    pid=$PID
    if ! meshq_alive "$PID" "$PSTART"; then
        meshq_notify K "$key" "$attempt" gone
        return
    fi
    : > "$jobdir/.meshq-kill-$attempt"
    meshq_now
    printf 'kill %s %s\n' "$attempt" "$REPLY" >> "$jobdir/$log"
    kill -TERM -- "-$pid" 2>/dev/null
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null
    meshq_notify K "$key" "$attempt" killed
}

meshq_remove() {
    local key=$1 jobdir=$2 msg
    meshq_expand_home "$jobdir"; jobdir=$REPLY
    # the manager builds job directories from validated names; refuse
    # anything that could not be one, whatever the caller meant
    if [[ $jobdir != */* || $jobdir == */ || $jobdir == *"/../"* || $jobdir == */.. ]]; then
        meshq_notify D "$key" "refused to remove $jobdir"
        return
    fi
    if msg=$(rm -rf -- "$jobdir" 2>&1); then
        meshq_notify D "$key" ok
    else
        meshq_notify D "$key" "${msg//[$'\t\n']/ }"
    fi
}

meshq_make() {
    local key=$1 d msg
    local -a dirs=()
    # one pass over the arguments: each ${@:i:1} would walk them from the start
    for d in "${@:3}"; do
        meshq_expand_home "$d"
        dirs+=("$REPLY")
    done
    if msg=$(mkdir -p -- "${dirs[@]}" 2>&1); then
        meshq_notify M "$key" ok
    else
        meshq_notify M "$key" "${msg//[$'\t\n']/ }"
    fi
}

meshq_note_crash() {
    local key=$1 attempt=$2 log=$3 reason=$4
    meshq_expand_home "$log"; log=$REPLY
    meshq_now
    if printf 'crash %s %s %s\n' "$attempt" "$REPLY" "${reason//[$'\n']/ }" >> "$log" 2>/dev/null; then
        meshq_notify C "$key" "$attempt" ok
    else
        meshq_notify C "$key" "$attempt" "cannot write $log"
    fi
}

meshq_fence() {
    # win the attempt's claim file before any wrapper can (see wrapper.sh)
    local key=$1 attempt=$2 jobdir=$3 mark pid pstart
    meshq_expand_home "$jobdir"; jobdir=$REPLY
    [[ -d $jobdir ]] || mkdir -p -- "$jobdir" 2>/dev/null
    mark=$jobdir/.meshq-attempt-$attempt
    if meshq_claim "$mark" fenced; then
        meshq_notify X "$key" "$attempt" fenced
    elif [[ -e $mark ]]; then
        read -r pid pstart < "$mark" 2>/dev/null
        if [[ $pid == fenced ]]; then
            meshq_notify X "$key" "$attempt" fenced
        elif meshq_alive "$pid" "$pstart"; then
            meshq_notify X "$key" "$attempt" taken 1
        else
            meshq_notify X "$key" "$attempt" taken 0
        fi
    else
        meshq_notify X "$key" "$attempt" "cannot write in $jobdir"
    fi
}

meshq_read() {
    # read N NUL-terminated fields into the array F
    local i
    F=()
    for ((i = 0; i < $1; i++)); do
        IFS= read -r -d '' "F[i]" || return 1
    done
}

# A job's folder without a process a job. mkdir is a new process: the most
# a launch would otherwise cost the host (1.2 of 4.7 ms of CPU a job on a
# local agent, measured). Where perl is (Debian's and Ubuntu's perl-base is
# essential; macOS has it), one perl, started after the ready line, makes
# every folder the agent is asked for, as mkdir -p would: a NUL-terminated
# path in, one line out (empty: made or already there; else why not). Where
# perl is not, or once it is gone, each wrapper makes its own folder.
meshq_maker_code='
$| = 1; $/ = "\0";
sub make {
    my $dir = shift;
    return 1 if mkdir($dir) || -d $dir;
    return 0 unless $!{ENOENT};
    (my $parent = $dir) =~ s{/+[^/]+/*$}{};
    return 0 if $parent eq "" || $parent eq $dir;
    return make($parent) && (mkdir($dir) || -d $dir);
}
while (defined(my $dir = <STDIN>)) { chop $dir; print make($dir) ? "\n" : "$!\n" }'

meshq_start_maker() {
    command -v perl > /dev/null || return 0
    # its pipes are bash's to close in every job it forks: only the agent
    # holds them, so perl ends when the agent does, however it ends
    coproc meshq_maker { exec perl -e "$meshq_maker_code"; }
}

meshq_make_folder() {
    # make the job folder $1 (~/… allowed) before its wrapper is forked.
    # Best effort: the wrapper makes what is still missing, or says why it
    # cannot. A maker that does not answer within 10 s (a file system that
    # hangs would hang mkdir as well) is given up, so the agent goes on.
    [[ -n ${meshq_maker_PID:-} ]] || return 0
    meshq_expand_home "$1"
    [[ -d $REPLY ]] && return 0
    local answer
    if ! { printf '%s\0' "$REPLY" >&"${meshq_maker[1]}" &&
           IFS= read -r -t 10 answer <&"${meshq_maker[0]}"; } 2>/dev/null; then
        kill "$meshq_maker_PID" 2>/dev/null
        meshq_maker_PID=""
    fi
    return 0
}

meshq_fields() {
    # read N NUL-terminated fields into the array F at once (mapfile reads a
    # pipe a byte at a time, so nothing past them is taken; N=0 would read all)
    F=()
    (($1 > 0)) || return 0
    mapfile -d '' -n "$1" -t F && ((${#F[@]} == $1))
}

# bash sets HOSTNAME from gethostname(), as the hostname command prints it:
# no process to start on every login
meshq_hostname=${HOSTNAME:-$(uname -n)}
meshq_notify R 2 "$meshq_hostname" "$BASH_VERSION" "$HOME"
# after the ready line: a login waits for nothing it does not need
meshq_learn_shell_words
meshq_start_maker
while IFS= read -r -d '' op; do
    case $op in
        L) meshq_read "$meshq_launch_fields" || break; meshq_have_shell "${F[4]}"
           meshq_make_folder "${F[2]}"
           meshq_wrap "${F[@]}" < /dev/null & ;;
        A) meshq_read 6 || break; meshq_check "${F[@]}" ;;
        K) meshq_read 7 || break; meshq_kill "${F[@]}" < /dev/null & ;;
        D) meshq_read 2 || break; meshq_remove "${F[@]}" ;;
        C) meshq_read 4 || break; meshq_note_crash "${F[@]}" ;;
        X) meshq_read 3 || break; meshq_fence "${F[@]}" ;;
        P) meshq_read 1 || break; meshq_notify P "${F[0]}" pong ;;
        M) meshq_read 2 || break; meshq_m=("${F[@]}")
           meshq_read "${F[1]}" || break; meshq_make "${meshq_m[@]}" "${F[@]}" ;;
        *) # an operation of a host kind's extension (prepended to this text,
           # see AgentBackend.call): KEY COUNT FIELD... in, one Y line out
           if [[ $op =~ ^[A-Z][A-Za-z]+$ ]] && declare -F "meshq_op_$op" > /dev/null; then
               meshq_read 2 || break; meshq_k=${F[0]}
               meshq_fields "${F[1]}" || break; "meshq_op_$op" "$meshq_k" "${F[@]}"
           else
               printf 'meshq agent: unknown request %q\n' "$op" >&2; break
           fi ;;
    esac
done
