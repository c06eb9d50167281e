# shellcheck shell=bash disable=SC2016,SC2034
# The harness of System/run: a Debian bookworm system container (systemd as PID 1) booted with systemd-nspawn over
# an overlay of a cached root file system, reached from the host over a veth pair in 198.51.100.0/24 (host end .1),
# with an HTTP origin on the host end. Sourced by System/run, which holds its lock on descriptor 9: processes that
# may outlive a run (a container kept with --keep, the origin, dnsmasq) are started without it.
#
# Only 198.51.100.0/24 is used, and traffic goes only to the container made here.

SYS_CACHE=${CACHENODE_SYSTEM_CACHE:-/var/cache/cachenode-system}
SYS_NAME=cnsys                       # machine name; the host end of the veth is ve-cnsys
SYS_HOST_IP=198.51.100.1
SYS_NODE_IP=198.51.100.50
SYS_ORIGIN_PORT=8081
SYS_ORIGIN=$SYS_HOST_IP:$SYS_ORIGIN_PORT
SYS_BIG_PATH=/content/big.bin        # the 8 MiB object of the origin
SYS_BIG_SIZE=$((8 * 1024 * 1024))
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The image holds what the package depends on (read from the .deb) and these: a system with networkd and nftables,
# and the tools the cases use inside (curl, python3 for listeners and a client, tmux for the wizard).
SYS_BASE_PACKAGES=(systemd systemd-sysv dbus iproute2 nftables netbase procps curl python3 tmux)
# What mmdebstrap does to the tree after installing: networkd manages the container's network (each case writes
# host0's own configuration before boot), a fixed host name, a resolver on the host end.
SYS_IMAGE_HOOKS=(
    'chroot "$1" systemctl enable --quiet systemd-networkd.service'
    'echo cachenode-lab >"$1/etc/hostname"'
    'rm -f "$1/etc/resolv.conf"; echo "nameserver 198.51.100.1" >"$1/etc/resolv.conf"'
)

sys_log() { printf '  %s\n' "$*" >&2; }
sys_die() { printf 'System/run: %s\n' "$*" >&2; exit 1; }

# --- Host tools ---------------------------------------------------------------------------------------------

sys_require_tools() {
    [ "$(id -u)" = 0 ] || sys_die "runs as root (it boots a system container)"
    local packages=(systemd-container mmdebstrap zstd dnsmasq-base tmux iproute2 curl python3) missing=()
    for package in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "Installing: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# The Debian mirror apt uses on this machine (deb822 or one-line sources), for mmdebstrap.
sys_mirror() {
    if [ -n "${CACHENODE_SYSTEM_MIRROR:-}" ]; then echo "$CACHENODE_SYSTEM_MIRROR"; return; fi
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -oE '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+/debian/?([[:space:]]|$)' \
        | grep -oE '[a-z]+://[^[:space:]]+' | head -1)
    echo "${uri:-http://deb.debian.org/debian}"
}

# --- The image ----------------------------------------------------------------------------------------------

# Package names a .deb depends on (the first of each alternative, versions dropped).
sys_deb_depends() {
    [ -n "$1" ] && [ -f "$1" ] || return 0
    dpkg-deb -f "$1" Depends Pre-Depends 2>/dev/null | tr ',' '\n' | sed -E 's/^[A-Za-z-]+://; s/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' \
        | grep -v '^$' | sort -u
}

# Builds (once) and unpacks (once) the bookworm root file system; sets SYS_BASE to its directory.
# $1: the .deb whose Depends join the image's packages.
sys_image() {
    local deb=$1 packages list hash tarball
    packages=$( { printf '%s\n' "${SYS_BASE_PACKAGES[@]}"; sys_deb_depends "$deb"; } | sort -u)
    list=$(echo "$packages" | paste -sd, -)
    # The name changes with the recipe, so a cached image made another way is never used.
    hash=$(printf '%s\n' "$list" "${SYS_IMAGE_HOOKS[@]}" | sha256sum | cut -c1-12)
    tarball=$SYS_CACHE/bookworm-$hash.tar.zst
    SYS_BASE=$SYS_CACHE/bookworm-$hash
    mkdir -p "$SYS_CACHE"
    if [ ! -s "$tarball" ]; then
        local mirror started=$SECONDS
        mirror=$(sys_mirror)
        echo "Building the bookworm image from $mirror (once; cached as $tarball)"
        rm -f "$tarball.part"
        local hooks=() hook
        for hook in "${SYS_IMAGE_HOOKS[@]}"; do hooks+=(--customize-hook="$hook"); done
        mmdebstrap --quiet --variant=minbase --format=tar --include="$list" "${hooks[@]}" \
            bookworm - "$mirror" | zstd -q -T0 -o "$tarball.part" \
            || { rm -f "$tarball.part"; sys_die "mmdebstrap failed"; }
        mv "$tarball.part" "$tarball"
        echo "Image built in $((SECONDS - started)) s ($(du -h "$tarball" | cut -f1))"
        # Images of another package list are not used again.
        local old
        for old in "$SYS_CACHE"/bookworm-*; do
            case $old in "$tarball" | "$SYS_BASE") ;; *) rm -rf --one-file-system "$old" ;; esac
        done
    fi
    if [ ! -e "$SYS_BASE/.complete" ]; then
        rm -rf "$SYS_BASE.part"
        mkdir -p "$SYS_BASE.part"
        tar --zstd -xpf "$tarball" --xattrs --xattrs-include='*' --numeric-owner -C "$SYS_BASE.part"
        touch "$SYS_BASE.part/.complete"
        rm -rf "$SYS_BASE"
        mv "$SYS_BASE.part" "$SYS_BASE"
    fi
}

# --- The container ------------------------------------------------------------------------------------------

# State of the current container: its directories and processes.
SYS_DIR=""          # per-case directory: upper, work, root (the merged tree), logs
SYS_ROOT=""         # the container's root as the host sees it
SYS_SUPERVISOR=""   # the loop that restarts nspawn after a reboot inside
SYS_DNSMASQ=""
SYS_KEEP=0          # --keep: leave a failed case's container up

# A fresh overlay over the image for one case: SYS_ROOT is writable, thrown away by sys_destroy.
sys_overlay() {
    SYS_DIR=$(mktemp -d "$SYS_RUN/case.XXXXXX")
    mkdir -p "$SYS_DIR"/{upper,work,root}
    mount -t overlay overlay -o "lowerdir=$SYS_BASE,upperdir=$SYS_DIR/upper,workdir=$SYS_DIR/work" "$SYS_DIR/root"
    SYS_ROOT=$SYS_DIR/root
}

# Moves the calling shell into its own child cgroup in each hierarchy nspawn uses, so that the container's
# systemd can apply MemoryMax/CPUQuota there (see sys_boot).
sys_enter_cgroups() {
    local id controllers path mount own
    # Read once: the file changes as this shell moves.
    own=$(cat /proc/self/cgroup)
    while IFS=: read -r id controllers path; do
        case $controllers in
            name=systemd) mount=systemd ;;
            "") [ "$id" = 0 ] || continue; mount=unified ;;
            memory | cpu | cpuacct | pids) mount=$controllers ;;
            *) continue ;;
        esac
        [ -d "/sys/fs/cgroup/$mount" ] || continue
        local cgroup=/sys/fs/cgroup/$mount${path%/}/cachenode-system-$SYS_NAME
        mkdir -p "$cgroup"
        echo "$BASHPID" >"$cgroup/cgroup.procs"
        echo "$cgroup" >>"$SYS_DIR/cgroups"
    done <<<"$own"
}

sys_nspawn_pid() { cat "$SYS_DIR/nspawn.pid" 2>/dev/null; }

# PID 1 of the container as the host sees it: the child of nspawn.
sys_pid() {
    local nspawn
    nspawn=$(sys_nspawn_pid) || return 1
    [ -n "$nspawn" ] && pgrep -P "$nspawn" | head -1
}

# Runs a command inside the container (all its namespaces, its root), with a clean environment.
sys_exec() {
    local pid
    pid=$(sys_pid) || return 125
    [ -n "$pid" ] || return 125
    nsenter -t "$pid" -a -r -w env -i PATH="$SYS_PATH" HOME=/root LANG=C.UTF-8 TERM=xterm-256color "$@"
}

# Boots the container over SYS_ROOT in the background and waits until systemd reports running.
sys_boot() {
    : >"$SYS_DIR/console.log"
    (
        sys_enter_cgroups
        while :; do
            systemd-nspawn --boot -D "$SYS_ROOT" -M "$SYS_NAME" --network-veth --register=no --keep-unit \
                --console=read-only --link-journal=no --resolv-conf=off --timezone=off \
                </dev/null >>"$SYS_DIR/console.log" 2>&1 &
            echo $! >"$SYS_DIR/nspawn.pid"
            rc=0
            wait $! || rc=$?
            echo "$rc" >"$SYS_DIR/nspawn.rc"
            # 133: a reboot inside; start it again over the same tree.
            [ "$rc" = 133 ] || exit "$rc"
            echo "--- reboot ---" >>"$SYS_DIR/console.log"
        done
    ) </dev/null >>"$SYS_DIR/console.log" 2>&1 9>&- &
    SYS_SUPERVISOR=$!
    sys_wait_booted
}

# Waits for a boot (the first or after a reboot): the container's systemd, the host end of the veth, the
# cgroup controllers made writable so resource limits apply, and `systemctl is-system-running`.
sys_wait_booted() {
    local deadline=$((SECONDS + 60)) state=""
    while [ $SECONDS -lt $deadline ]; do
        if [ -n "$(sys_pid)" ] && ip link show "ve-$SYS_NAME" >/dev/null 2>&1; then
            state=$(sys_exec systemctl is-system-running 2>/dev/null) || true
            case $state in running | degraded | starting | initializing) break ;; esac
        fi
        kill -0 "$SYS_SUPERVISOR" 2>/dev/null || { tail -20 "$SYS_DIR/console.log" >&2; return 1; }
        sleep 0.1
    done
    ip addr replace "$SYS_HOST_IP/24" dev "ve-$SYS_NAME"
    ip link set "ve-$SYS_NAME" up
    # nspawn mounts the v1 controllers read-only: limits would show in systemctl but not apply.
    local controller
    for controller in memory cpu cpuacct pids; do
        sys_exec sh -c "mountpoint -q /sys/fs/cgroup/$controller && mount -o remount,bind,rw /sys/fs/cgroup/$controller" || true
    done
    sys_exec systemctl daemon-reexec
    while [ $SECONDS -lt $deadline ]; do
        state=$(sys_exec systemctl is-system-running 2>/dev/null) || true
        case $state in
            running) return 0 ;;
            degraded)
                sys_log "booted degraded; failed units: $(sys_exec systemctl list-units --state=failed --plain --no-legend | awk '{print $1}' | paste -sd' ' -)"
                return 0 ;;
        esac
        sleep 0.1
    done
    echo "the container did not finish booting (state: $state)" >&2
    return 1
}

# Reboots the container from inside and waits until it is up again.
sys_reboot() {
    local old
    old=$(sys_pid)
    sys_exec systemctl reboot || true
    local deadline=$((SECONDS + 60))
    while [ $SECONDS -lt $deadline ]; do
        local now
        now=$(sys_pid) || true
        [ -n "$now" ] && [ "$now" != "$old" ] && break
        kill -0 "$SYS_SUPERVISOR" 2>/dev/null || return 1
        sleep 0.1
    done
    sys_wait_booted
}

# Stops the container and throws its overlay away (unless kept); safe to call twice.
sys_destroy() {
    sys_origin_stop
    sys_dnsmasq_stop
    [ -n "$SYS_DIR" ] || return 0
    if [ -n "$SYS_SUPERVISOR" ] && kill -0 "$SYS_SUPERVISOR" 2>/dev/null; then
        sys_exec systemctl poweroff >/dev/null 2>&1 || true
        local deadline=$((SECONDS + 15))
        while kill -0 "$SYS_SUPERVISOR" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if kill -0 "$SYS_SUPERVISOR" 2>/dev/null; then
            local nspawn
            nspawn=$(sys_nspawn_pid)
            kill -TERM "$nspawn" 2>/dev/null || true
            sleep 3
            kill -KILL "$nspawn" 2>/dev/null || true
        fi
        wait "$SYS_SUPERVISOR" 2>/dev/null || true
    fi
    SYS_SUPERVISOR=""
    ip link delete "ve-$SYS_NAME" 2>/dev/null || true
    # The container's own cgroups below ours first, then ours.
    if [ -f "$SYS_DIR/cgroups" ]; then
        local cgroup
        while read -r cgroup; do
            [ -d "$cgroup" ] && find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null
        done <"$SYS_DIR/cgroups"
    fi
    if mountpoint -q "$SYS_DIR/root"; then
        umount "$SYS_DIR/root" 2>/dev/null || umount -l "$SYS_DIR/root"
    fi
    rm -rf --one-file-system "$SYS_DIR"
    rm -f "$SYS_KEPT"
    SYS_DIR="" SYS_ROOT=""
}

# What a kept container needs to be cleaned up later (System/run --clean).
SYS_KEPT=/run/cachenode-system.kept

# Leaves the container and the origin up for debugging, and says how to reach them.
sys_keep() {
    declare -p SYS_RUN SYS_DIR SYS_ROOT SYS_SUPERVISOR SYS_ORIGIN_PID SYS_DNSMASQ >"$SYS_KEPT"
    echo "  kept: container $SYS_NAME (root $SYS_ROOT), origin on $SYS_ORIGIN; enter with: nsenter -t $(sys_pid) -a -r -w bash"
    echo "  remove it with: System/run --clean"
    SYS_SUPERVISOR="" SYS_DIR="" SYS_ROOT="" SYS_ORIGIN_PID="" SYS_DNSMASQ=""
}

# Stops and removes a container left by --keep (or by a run that was killed).
sys_clean_kept() {
    [ -f "$SYS_KEPT" ] || return 0
    # shellcheck disable=SC1090
    source "$SYS_KEPT"
    sys_destroy
    rm -rf --one-file-system "$SYS_RUN"
}

# Saves what explains a failed case: the logs of the harness and, from inside, the journal, network and firewall.
sys_collect() {
    local target=$1
    [ -n "$SYS_DIR" ] || return 0
    mkdir -p "$target"
    cp "$SYS_DIR"/*.log "$SYS_DIR"/*.json "$SYS_DIR"/*.leases "$target/" 2>/dev/null || true
    if [ -n "$(sys_pid 2>/dev/null)" ]; then
        sys_exec journalctl -b --no-pager >"$target/journal.txt" 2>&1 || true
        sys_exec sh -c 'ip -d addr; echo; ip route; echo; networkctl list; echo; nft list ruleset; echo;
            systemctl status --no-pager cachenode.service; echo; ls -la /etc/systemd/network /etc/nftables.d' \
            >"$target/state.txt" 2>&1 || true
        cp -r "$SYS_ROOT/var/lib/cachenode" "$target/state-directory" 2>/dev/null || true
    fi
}

# The network the node has before setup: a networkd file for host0 (written before boot).
# $1: static (198.51.100.50/24) or dhcp.
sys_adapter_config() {
    mkdir -p "$SYS_ROOT/etc/systemd/network"
    # Same name as the file systemd ships for a container's host0, so this one replaces it.
    local file=$SYS_ROOT/etc/systemd/network/80-container-host0.network
    case $1 in
        static) printf '[Match]\nName=host0\n\n[Network]\nAddress=%s/24\nGateway=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
            "$SYS_NODE_IP" "$SYS_HOST_IP" >"$file" ;;
        dhcp) printf '[Match]\nName=host0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' >"$file" ;;
    esac
}

# Copies files into the container's /root.
sys_copy_in() {
    local file
    for file in "$@"; do cp "$file" "$SYS_ROOT/root/"; done
}

# --- Host side: origin and DHCP -----------------------------------------------------------------------------

SYS_ORIGIN_PID=""

# The origin's content, made once per run: the validation GIF and a deterministic 8 MiB object.
sys_origin_content() {
    SYS_CONTENT=$SYS_RUN/content
    [ -d "$SYS_CONTENT" ] && return 0
    mkdir -p "$SYS_CONTENT/mscomtest" "$SYS_CONTENT/content"
    python3 - "$SYS_CONTENT" "$SYS_BIG_SIZE" <<'EOF'
import random, struct, sys, zlib
root, size = sys.argv[1], int(sys.argv[2])
# A real GIF89a: 16x16, a 4-colour palette, one LZW-coded image of a gradient.
width = height = 16
palette = bytes([0, 0, 0, 0, 120, 215, 255, 255, 255, 200, 40, 40])
pixels = [(x // 4 + y // 8) % 4 for y in range(height) for x in range(width)]
def lzw(data, min_size=2):
    clear, end = 1 << min_size, (1 << min_size) + 1
    out, bits, nbits = bytearray(), 0, 0
    def emit(code, size):
        nonlocal bits, nbits
        bits |= code << nbits
        nbits += size
        while nbits >= 8:
            out.append(bits & 0xFF); bits >>= 8; nbits -= 8
    size = min_size + 1
    emit(clear, size)
    for i, p in enumerate(data):  # a clear before the table needs a wider code: simple and valid
        emit(p, size)
        if i % 2 == 1:
            emit(clear, size)
    emit(end, size)
    if nbits: out.append(bits & 0xFF)
    return bytes(out)
body = lzw(pixels)
blocks = b"".join(bytes([len(body[i:i + 255])]) + body[i:i + 255] for i in range(0, len(body), 255)) + b"\x00"
gif = (b"GIF89a" + struct.pack("<HHBBB", width, height, 0x81, 0, 0) + palette
       + b"\x21\xf9\x04\x00\x00\x00\x00\x00"
       + b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02" + blocks + b"\x3b")
open(f"{root}/mscomtest/wuidt.gif", "wb").write(gif)
open(f"{root}/content/big.bin", "wb").write(random.Random(20261130).randbytes(size))
EOF
}

# Starts the origin on the host end of the veth (the address must be up).
sys_origin_start() {
    sys_origin_content
    python3 "$SYS_HERE/origin.py" --bind "$SYS_HOST_IP" --port "$SYS_ORIGIN_PORT" --root "$SYS_CONTENT" \
        --log "$SYS_DIR/origin.log" >>"$SYS_DIR/origin.out" 2>&1 9>&- &
    SYS_ORIGIN_PID=$!
    local _
    for _ in $(seq 100); do
        curl --noproxy '*' -s -o /dev/null "http://$SYS_ORIGIN/_requests" && return 0
        sleep 0.05
    done
    echo "the origin did not start: $(cat "$SYS_DIR/origin.out")" >&2
    return 1
}

sys_origin_stop() {
    [ -n "$SYS_ORIGIN_PID" ] || return 0
    kill "$SYS_ORIGIN_PID" 2>/dev/null || true
    wait "$SYS_ORIGIN_PID" 2>/dev/null || true
    SYS_ORIGIN_PID=""
}

# How many requests for PATH reached the origin.
sys_origin_count() {
    curl --noproxy '*' -s "http://$SYS_ORIGIN/_requests" | awk -v p="$1" '$1 == p {n++} END {print n + 0}'
}

# A DHCP server on the host end only, its own lease file, nothing else.
sys_dnsmasq_start() {
    dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --port=0 \
        --interface="ve-$SYS_NAME" --bind-interfaces --except-interface=lo \
        --dhcp-range=198.51.100.100,198.51.100.120,255.255.255.0,10m \
        --dhcp-option=option:router,$SYS_HOST_IP --dhcp-leasefile="$SYS_DIR/dnsmasq.leases" \
        --pid-file="$SYS_DIR/dnsmasq.pid" --log-facility="$SYS_DIR/dnsmasq.log" --log-dhcp 9>&- &
    SYS_DNSMASQ=$!
}

sys_dnsmasq_stop() {
    [ -n "$SYS_DNSMASQ" ] || return 0
    kill "$SYS_DNSMASQ" 2>/dev/null || true
    wait "$SYS_DNSMASQ" 2>/dev/null || true
    SYS_DNSMASQ=""
}
