namespace GuestMemory.Cli.Output;

/// <summary>
/// The codes of failures that are not the library's own (<see cref="GmmError"/>): bad input to the tool,
/// files, the network, an interruption. With <see cref="GmmError"/> names they are the <c>code</c> of
/// every error gmm reports (docs/cli.md lists them).
/// </summary>
internal enum CliError
{
    /// <summary>The command line does not parse (exit 1).</summary>
    InvalidArguments,
    /// <summary>A named file does not exist.</summary>
    FileNotFound,
    /// <summary>A file to read is not a regular file (a FIFO, a device, a directory).</summary>
    NotARegularFile,
    /// <summary>A file's content is not what it should be (a truncated or corrupt gzip stream).</summary>
    InvalidData,
    /// <summary>Reading or writing a file failed, or a directory to write into is missing or read-only.</summary>
    IoError,
    /// <summary>The operating system refused access to a file.</summary>
    AccessDenied,
    /// <summary>The address and port to listen on are already in use.</summary>
    AddressInUse,
    /// <summary>The address to listen on is not one of this host's.</summary>
    AddressUnavailable,
    /// <summary>Another network failure.</summary>
    NetworkError,
    /// <summary>Some sessions of <c>gmm migrate listen</c> failed (each was reported when it ended).</summary>
    SessionsFailed,
    /// <summary>A benchmark that <c>gmm bench all</c> ran in a process of its own failed.</summary>
    BenchmarkFailed,
    /// <summary>The command needs the source tree (the micro benchmarks are not part of the installed tool).</summary>
    SourceCheckoutNeeded,
    /// <summary>Ctrl+C (SIGINT) or SIGTERM stopped the command (exit 130 or 143).</summary>
    Interrupted,
    /// <summary>A failure gmm did not expect: a bug, reported with the exception's type.</summary>
    Unexpected,
}

/// <summary>A typed failure of the tool itself (exit 2), with a <see cref="CliError"/> code.</summary>
internal sealed class CliException(CliError error, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>What went wrong, for scripts (the <c>code</c> of the JSON error).</summary>
    public CliError Error { get; } = error;

    /// <summary>A socket error with its code: the port taken, the address not this host's, or another network failure.</summary>
    public static CliException Socket(System.Net.Sockets.SocketException e, string message) => new(e.SocketErrorCode switch
    {
        System.Net.Sockets.SocketError.AddressAlreadyInUse => CliError.AddressInUse,
        System.Net.Sockets.SocketError.AddressNotAvailable => CliError.AddressUnavailable,
        _ => CliError.NetworkError,
    }, message, e);
}
