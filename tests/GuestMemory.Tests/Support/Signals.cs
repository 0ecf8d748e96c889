using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace GuestMemory.Tests.Support;

/// <summary>
/// Signals for tests that treat gmm as a user at a terminal would: Ctrl+C is SIGINT sent to the process.
/// A process started in the background by a non-interactive shell inherits SIGINT ignored, and so
/// would every gmm this test host starts (.NET leaves an ignored SIGINT ignored); such a gmm could not
/// be interrupted at all, which is not what a user's terminal does, so the default disposition is put
/// back for the children first.
/// </summary>
internal static partial class Signals
{
    private const int SigInt = 2, SigTerm = 15;

    /// <summary>Sends SIGINT (what Ctrl+C sends) to <paramref name="process"/>.</summary>
    public static void Interrupt(Process process) => Send(process, SigInt);

    /// <summary>Sends SIGTERM to <paramref name="process"/>.</summary>
    public static void Terminate(Process process) => Send(process, SigTerm);

    /// <summary>Makes SIGINT reach processes this test host starts, if it was ignored here (see the class remarks).</summary>
    public static void LetChildrenBeInterrupted()
    {
        if (IsIgnored(SigInt)) SetDefault(SigInt, 0);
        Assert.False(IsIgnored(SigInt), "SIGINT is still ignored in the test host, so no gmm it starts could be interrupted");
    }

    private static void Send(Process process, int signal)
    {
        if (Kill(process.Id, signal) != 0) Assert.Fail($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Whether this process ignores <paramref name="signal"/> (the SigIgn mask of /proc/self/status).</summary>
    private static bool IsIgnored(int signal)
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        ulong mask = ulong.Parse(line["SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return (mask & (1UL << (signal - 1))) != 0;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint SetDefault(int signal, nint handler);
}
