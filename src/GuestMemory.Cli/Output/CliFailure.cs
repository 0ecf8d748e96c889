using System.Net.Sockets;

namespace GuestMemory.Cli.Output;

/// <summary>
/// One failure as gmm reports it: a code (a <see cref="GmmError"/> or <see cref="CliError"/> name) and a
/// one-line message (a <see cref="GuestMemory.Qemu.QemuError"/> name for QEMU guests). Exceptions a user can cause map to a code here; anything else is
/// <see cref="CliError.Unexpected"/>.
/// </summary>
internal sealed record CliFailure(string Code, string Message)
{
    /// <summary>
    /// The failure an exception stands for, or null when it is not one a user can cause (a bug, which
    /// must show its stack trace rather than be dressed up as a typed error).
    /// </summary>
    public static CliFailure? From(Exception e) => e switch
    {
        GmmException g => new(g.Error.ToString(), WithoutCodePrefix(g.Message, g.Error.ToString())),
        CliException c => new(c.Error.ToString(), c.Message),
        GuestMemory.Qemu.QemuException q => new(q.Error.ToString(), WithoutCodePrefix(q.Message, q.Error.ToString())),
        FileNotFoundException or DirectoryNotFoundException => new(nameof(CliError.FileNotFound), e.Message),
        UnauthorizedAccessException => new(nameof(CliError.AccessDenied), e.Message),
        InvalidDataException => new(nameof(CliError.InvalidData), e.Message),
        IOException => new(nameof(CliError.IoError), e.Message),
        SocketException s => From(CliException.Socket(s, s.Message)),
        _ => null,
    };

    /// <summary>The message on one line: line breaks become spaces (control characters are escaped when printed).</summary>
    public string OneLine => Message.ReplaceLineEndings(" ").Trim();

    /// <summary>A GmmException's message starts with its code; the report prints the code once.</summary>
    private static string WithoutCodePrefix(string message, string code) =>
        message.StartsWith(code + ": ", StringComparison.Ordinal) ? message[(code.Length + 2)..] : message;
}
