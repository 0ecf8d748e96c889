using System.Runtime.InteropServices;

namespace GuestMemory.Cli;

/// <summary>
/// Ctrl+C (SIGINT) and SIGTERM for the whole process, with one <see cref="CancellationTokenSource"/>.
/// A command that stops cleanly on <see cref="Token"/> (it says so with <see cref="Cancellable"/>) gets
/// the first signal as a cancellation: it ends its work, and the process exits 130 (143 for SIGTERM)
/// saying so on standard error. A command that cannot stop midway, and any second signal, end the
/// process at once with the same exit code through <see cref="Environment.Exit"/>, which still runs the
/// process-exit handlers (KSM's settings are restored there).
/// </summary>
/// <remarks>
/// System.CommandLine's own termination handling is switched off (its <c>ProcessTerminationTimeout</c>
/// is null): on a second signal while the action still ran it completed its result source a second
/// time and the process died of "An attempt was made to transition a task to a final state when it had
/// already completed", and after 2 s it made the invocation return while the work went on.
/// Ctrl+C is taken through <see cref="Console.CancelKeyPress"/>, the same event other handlers in the
/// process use (KsmSettings), so no handler can undo another's request to keep the process alive.
/// </remarks>
internal sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly Action<int, string, bool> _report;
    private PosixSignalRegistration? _terminate;
    private int _signals;

    /// <param name="report">Says what happened: exit code, which signal, and whether the process ends at once.</param>
    public Interruption(Action<int, string, bool> report) => _report = report;

    /// <summary>Cancelled by the first signal while a cancellable command runs.</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>True once a signal asked the running command to stop.</summary>
    public bool IsRequested => _cancel.IsCancellationRequested;

    /// <summary>The exit code the signal asks for (130 SIGINT, 143 SIGTERM), once one came.</summary>
    public int ExitCode { get; private set; }

    /// <summary>The signal that came, for the report ("Ctrl+C (SIGINT)" or "SIGTERM").</summary>
    public string Signal { get; private set; } = "";

    /// <summary>Set by a command that watches <see cref="Token"/> and stops cleanly on it.</summary>
    public bool Cancellable { get; set; }

    /// <summary>Starts listening for SIGINT and SIGTERM.</summary>
    public void Install()
    {
        Console.CancelKeyPress += OnCancelKeyPress;
        if (!OperatingSystem.IsWindows()) _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnTerminate);
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        _terminate?.Dispose();
    }

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        Interrupt(130, "Ctrl+C (SIGINT)");
    }

    private void OnTerminate(PosixSignalContext context)
    {
        context.Cancel = true;
        Interrupt(143, "SIGTERM");
    }

    private void Interrupt(int exitCode, string signal)
    {
        bool first = Interlocked.Increment(ref _signals) == 1;
        if (first)
        {
            ExitCode = exitCode;
            Signal = signal;
        }
        if (first && Cancellable)
        {
            _report(exitCode, signal, false);
            _cancel.Cancel();
            return;
        }
        _report(ExitCode, signal, true);
        Environment.Exit(ExitCode);
    }
}
