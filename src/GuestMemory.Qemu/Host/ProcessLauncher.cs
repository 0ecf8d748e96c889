using System.Collections.Concurrent;
using System.Diagnostics;

namespace GuestMemory.Qemu;

/// <summary>
/// Starts QEMU processes so that none outlives this process, however it ends.
/// </summary>
/// <remarks>
/// <para>Each QEMU starts under util-linux's <c>setpriv --pdeathsig KILL</c> (Debian: in the essential
/// util-linux package), which asks the kernel to SIGKILL it when its parent dies — including a
/// SIGKILL of this process, which no handler here can see. The kernel's "parent" is the thread that
/// forked (prctl(2): the signal follows the parent <i>thread's</i> exit), and .NET forks on the calling
/// thread, so every start runs on one dedicated thread that lives as long as the process: a thread-pool
/// thread that retires would otherwise take its QEMUs with it.</para>
/// <para>Without setpriv (not Debian), QEMU starts directly; then only the owner's own cleanup (Dispose,
/// process exit, <see cref="RunDirectory.ReapStale"/> at the next start) ends it.</para>
/// <para>Every started process is in <c>Live</c> until it is known to have exited; on process exit
/// (normal end, SIGTERM, an unhandled exception) every live one is killed by its pid.</para>
/// </remarks>
internal static class ProcessLauncher
{
    private static readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process> Result)> Requests = [];
    private static readonly ConcurrentDictionary<int, Process> Live = new();
    private static readonly string? Setpriv = FindSetpriv();

    static ProcessLauncher()
    {
        new Thread(Serve) { IsBackground = true, Name = "gmm-qemu-launcher" }.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        AppDomain.CurrentDomain.UnhandledException += (_, _) => KillAll();
    }

    /// <summary>True when starts are guarded by the parent-death signal (setpriv found).</summary>
    public static bool HasParentDeathSignal => Setpriv != null;

    /// <summary>Starts <paramref name="program"/> with <paramref name="arguments"/>, standard output and error redirected.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.HostResourceFailed"/> when the process cannot start.</exception>
    public static Process Start(string program, IReadOnlyList<string> arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(Setpriv ?? program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        if (Setpriv != null)
            foreach (string a in new[] { "--pdeathsig", "KILL", "--", program }) start.ArgumentList.Add(a);
        foreach (string a in arguments) start.ArgumentList.Add(a);
        var result = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((start, result));
        try
        {
            Process process = result.Task.GetAwaiter().GetResult();
            Live[process.Id] = process;
            return process;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new QemuException(QemuError.HostResourceFailed, $"{program} could not be started: {e.Message}", e);
        }
    }

    /// <summary>Kills the process (SIGKILL by its pid) unless it has exited, and waits for it.</summary>
    public static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill();
            process.WaitForExit(10_000);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // exited (and reaped) meanwhile
        }
        Forget(process);
    }

    /// <summary>Drops an exited process from the live set.</summary>
    public static void Forget(Process process)
    {
        try { Live.TryRemove(process.Id, out _); }
        catch (InvalidOperationException) { /* never started */ }
    }

    /// <summary>Pids of the processes started here that have not been seen to exit.</summary>
    public static IReadOnlyCollection<int> LivePids => Live.Keys.ToArray();

    private static void KillAll()
    {
        foreach (Process p in Live.Values)
        {
            try { if (!p.HasExited) p.Kill(); }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { /* gone */ }
        }
    }

    private static void Serve()
    {
        foreach ((ProcessStartInfo start, TaskCompletionSource<Process> result) in Requests.GetConsumingEnumerable())
        {
            try { result.SetResult(Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned no process")); }
            catch (Exception e) { result.SetException(e); }
        }
    }

    private static string? FindSetpriv()
    {
        string? path = QemuBinary.FindOnPath("setpriv");
        if (path == null) return null;
        try
        {
            var check = new ProcessStartInfo(path, "--help") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using Process p = Process.Start(check)!;
            string help = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit(10_000);
            return help.Contains("--pdeathsig", StringComparison.Ordinal) ? path : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return null;
        }
    }
}
