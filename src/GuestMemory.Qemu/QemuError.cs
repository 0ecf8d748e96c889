namespace GuestMemory.Qemu;

/// <summary>
/// Every way an operation of the QEMU layer can fail. Each public operation that fails throws a
/// <see cref="QemuException"/> carrying one of these codes, with a message that says what to install,
/// pass or look at. (The core's <see cref="GmmException"/> keeps its own codes; this layer adds its own
/// enum rather than growing the core's with process and protocol concerns.)
/// </summary>
public enum QemuError
{
    /// <summary>An argument is out of its documented range (a size, a name, a count).</summary>
    InvalidArgument = 1,
    /// <summary><c>qemu-system-x86_64</c> is not on PATH or at the given path (Debian: <c>qemu-system-x86</c>).</summary>
    QemuNotFound,
    /// <summary>The QEMU found is older than <see cref="QemuBinary.MinimumVersion"/>, or its version is unreadable.</summary>
    QemuTooOld,
    /// <summary>No guest kernel: none given and none in /boot (Debian: <c>linux-image-amd64</c>).</summary>
    KernelNotFound,
    /// <summary>The kernel's modules (<c>/lib/modules/VERSION</c> with <c>modules.dep</c>) or a module a guest needs are missing.</summary>
    ModulesNotFound,
    /// <summary>A host tool the image builder needs is missing (<c>busybox</c> from <c>busybox-static</c>, <c>zstd</c>).</summary>
    ToolNotFound,
    /// <summary>The accelerator asked for cannot be used here (<c>kvm</c> without a working /dev/kvm).</summary>
    AcceleratorUnavailable,
    /// <summary>The host refused a resource: memfd_create, ftruncate, a socket, starting the process.</summary>
    HostResourceFailed,
    /// <summary>QEMU exited (killed, crashed or refused its command line); the message has its exit status and last output.</summary>
    GuestDied,
    /// <summary>The guest did not get ready (boot, QMP connect) or a command did not answer in time.</summary>
    Timeout,
    /// <summary>QEMU answered a QMP command with an error; see <see cref="QmpCommandException.ErrorClass"/>.</summary>
    QmpCommandFailed,
    /// <summary>QEMU's QMP output broke the protocol (not JSON, an over-long line, a reply to no command).</summary>
    QmpProtocolError,
    /// <summary>The QMP connection is closed (QEMU ended, or the client was disposed): every pending and later call fails with it.</summary>
    QmpConnectionLost,
    /// <summary>The guest's command channel broke the framing (a reply that does not parse) or closed.</summary>
    GuestChannelBroken,
    /// <summary>A command ran in the guest but failed there (non-zero exit status); the message has its output.</summary>
    GuestCommandFailed,
    /// <summary>No running guest by that name (for commands that reach a guest another <c>gmm</c> started).</summary>
    GuestNotFound,
    /// <summary>A QEMU migration stream uses what GuestMemory does not take (xbzrle, multifd, compression, postcopy, a return path, a stream version or RAM flag it does not know); the message names it. The source QEMU keeps running.</summary>
    StreamUnsupported,
    /// <summary>A QEMU migration stream breaks its own rules (a bad magic, section, footer, block or address); nothing of it is kept.</summary>
    StreamCorrupt,
    /// <summary>A QEMU migration stream ended (connection dropped, file cut) before its end; nothing of it is kept.</summary>
    StreamTruncated,
    /// <summary>No stored VM by that name in the store.</summary>
    StoredVmNotFound,
    /// <summary>A stored VM of that name exists already (delete it first, or migrate under another name).</summary>
    StoredVmExists,
    /// <summary>The target QEMU did not accept a resumed VM (machine type, devices or RAM blocks differ, or it closed the connection); the message says what it saw.</summary>
    ResumeRefused,
    /// <summary>A live relay's target store took the VM but could not resume it into its QEMU (it keeps the VM), or never said what became of it.</summary>
    RelayFailed,
    /// <summary>A store folder's files are damaged or of another version; the message names the file.</summary>
    StoreCorrupt,
    /// <summary>Another process holds the store folder (its <c>store.lock</c>): one writer at a time; lists and resumes read it alongside.</summary>
    StoreBusy,
    /// <summary>The guest has no balloon: no virtio-balloon device, or its driver (<c>virtio_balloon</c>) is not loaded, so it never reports.</summary>
    BalloonUnavailable,
    /// <summary>The guest's balloon stopped short of its target (the guest uses the pages, or its driver is stuck).</summary>
    BalloonTargetNotReached,
}

/// <summary>A failure of the QEMU layer, with its typed <see cref="QemuError"/> code.</summary>
public class QemuException : Exception
{
    /// <summary>Creates the exception for <paramref name="error"/> with a human-readable message.</summary>
    public QemuException(QemuError error, string message) : base($"{error}: {message}") => Error = error;

    /// <summary>Creates the exception with an inner cause (an OS error, a socket error).</summary>
    public QemuException(QemuError error, string message, Exception? inner) : base($"{error}: {message}", inner) => Error = error;

    /// <summary>The typed reason, for callers that act on it.</summary>
    public QemuError Error { get; }

    /// <summary>
    /// A fresh exception with the same code and message, for a failure a channel remembers and throws to
    /// every later caller (one exception object must not be thrown from several places at once).
    /// </summary>
    internal QemuException Recreate() => this switch
    {
        QmpCommandException c => new QmpCommandException(c.Command, c.ErrorClass, c.Description),
        _ => new QemuException(Error, Message[(Error.ToString().Length + 2)..], InnerException),
    };
}

/// <summary>
/// QEMU answered a QMP command with <c>{"error": {"class": ..., "desc": ...}}</c>
/// (<see cref="QemuError.QmpCommandFailed"/>).
/// </summary>
public sealed class QmpCommandException : QemuException
{
    /// <summary>Creates the exception for <paramref name="command"/>'s error reply.</summary>
    public QmpCommandException(string command, string errorClass, string description)
        : base(QemuError.QmpCommandFailed, $"QMP {command} failed: {errorClass}: {description}")
    {
        Command = command;
        ErrorClass = errorClass;
        Description = description;
    }

    /// <summary>The command that failed.</summary>
    public string Command { get; }

    /// <summary>QEMU's error class: <c>GenericError</c>, <c>CommandNotFound</c>, <c>DeviceNotActive</c>, <c>DeviceNotFound</c>, <c>KVMMissingCap</c>.</summary>
    public string ErrorClass { get; }

    /// <summary>QEMU's human-readable description.</summary>
    public string Description { get; }
}
