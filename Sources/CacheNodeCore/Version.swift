/// The one version number of CacheNode: shown by `cachenode --version`, reported by the engine,
/// used by `Packaging/build-deb` for the package version, and named by the top heading of CHANGELOG.md.
package enum CacheNodeVersion {
    package static let current = "0.4.0"
}
