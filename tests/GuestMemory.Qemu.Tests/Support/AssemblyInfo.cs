// The QEMU layer and its tests are Linux-only (memfd, /proc, QEMU's Unix sockets).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
