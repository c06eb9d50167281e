# Shared by Packaging/build-deb and Packaging/check-deb (sourced, not run).

# The repository this file belongs to.
CACHENODE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The one version number, from Sources/CacheNodeCore/Version.swift (CacheNodeVersion.current).
cachenode_version() {
    local file="$CACHENODE_REPO/Sources/CacheNodeCore/Version.swift"
    local version
    version=$(sed -n 's/^[[:space:]]*package static let current = "\([^"]*\)".*$/\1/p' "$file" | head -n 1)
    if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
        echo "cannot read the version (CacheNodeVersion.current = \"X.Y.Z\") from $file" >&2
        return 1
    fi
    echo "$version"
}

# The version the first release heading of a Keep a Changelog file names ("## [0.4.0] - Unreleased" gives 0.4.0;
# an "## [Unreleased]" heading names none), read from the file or from stdin.
changelog_version() {
    sed -n 's/^## \[\([0-9][^]]*\)\].*$/\1/p' "$@" | head -n 1
}

# The Depends value dpkg-shlibdeps computes for the ELF file $1 (what it really links). Fails, with
# dpkg-shlibdeps's own message, when a library it needs belongs to no installed Debian package.
computed_depends() {
    local binary
    binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    local work
    work=$(mktemp -d)
    mkdir "$work/debian"
    printf 'Source: cachenode\n\nPackage: cachenode\nArchitecture: any\n' >"$work/debian/control"
    local output status=0
    output=$(cd "$work" && env -u LD_LIBRARY_PATH dpkg-shlibdeps -O -e"$binary" 2>"$work/stderr") || status=$?
    grep -v "^dpkg-shlibdeps: warning: binaries to analyze should already be installed" "$work/stderr" |
        grep -v "package could avoid a useless dependency\|was not linked against\|were not linked against\|not using any symbol" >&2 || true
    rm -rf "$work"
    if [[ $status -ne 0 ]]; then
        return 1
    fi
    sed -n 's/^shlibs:Depends=//p' <<<"$output"
}

# Each library the ELF file $1 loads that no Debian package owns (or that the loader cannot find), one a line.
foreign_libraries() {
    local line path owner
    env -u LD_LIBRARY_PATH ldd "$1" | while IFS= read -r line; do
        case "$line" in
            *"not found"*)
                echo "${line%% =>*} (not found)" | sed 's/^[[:space:]]*//'
                continue
                ;;
            *linux-vdso.so* | *statically\ linked*) continue ;;
        esac
        path=$(sed -n 's/^.*=> \(\/[^ ]*\) (0x.*$/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*$/\1/p' <<<"$line" | head -n 1)
        [[ -n "$path" ]] || continue
        owner=""
        for candidate in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
            if owner=$(dpkg-query -S "$candidate" 2>/dev/null); then
                break
            fi
            owner=""
        done
        if [[ -z "$owner" ]]; then
            echo "$path (in no Debian package)"
        fi
    done
}
