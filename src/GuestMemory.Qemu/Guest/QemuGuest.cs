using System.Diagnostics;
using System.Net.Sockets;

namespace GuestMemory.Qemu;

/// <summary>Where a guest is in its life.</summary>
public enum GuestState
{
    /// <summary>QEMU runs; the guest has not reported ready yet.</summary>
    Booting,
    /// <summary>Ready: its command channel (or, without one, QMP) answers.</summary>
    Running,
    /// <summary>QEMU has exited (killed, crashed, quit, or the guest powered off).</summary>
    Exited,
}

/// <summary>
/// One QEMU guest whose RAM this process owns: the main type of the QEMU layer (GuestMemory.Qemu).
/// </summary>
/// <remarks>
/// <para><b>Why a layer of its own.</b> The core library (GuestMemory) manages memory and knows nothing of
/// processes, sockets or JSON; this assembly is the next layer on top (DESIGN.md, "Real guests"), so the
/// core stays small and dependency-free and its users never carry QEMU concerns. It uses the core
/// below it (page figures for the live view), never the other way round.</para>
/// <para><b>What it owns.</b> The QEMU process (started by <see cref="ProcessLauncher"/> so it dies with
/// this process), the guest's RAM as a memfd (<see cref="Ram"/>), two sockets QEMU connects to — QMP
/// (<see cref="Qmp"/>) and the guest's second serial port (<see cref="Shell"/>) — and the guest's folder
/// (console log, record for other <c>gmm</c> processes, a second QMP socket).</para>
/// <para><b>Lifetime.</b> <see cref="StartAsync"/> returns a guest that is ready or throws having ended
/// everything it started. <see cref="DisposeAsync"/> ends QEMU by its pid (SIGKILL; call
/// <see cref="ShutdownAsync"/> first for a clean <c>quit</c>), closes the sockets and the memfd and deletes
/// the folder. A QEMU that exits by itself is seen at once (<see cref="Exited"/>): pending and later QMP
/// and shell calls fail with <see cref="QemuError.GuestDied"/>, with its exit status and last words.</para>
/// <para><b>Threads.</b> Every member may be called from any thread; <see cref="Qmp"/> and
/// <see cref="Shell"/> document their own concurrency. <c>_exitLock</c> guards the exit bookkeeping.</para>
/// </remarks>
public sealed class QemuGuest : IAsyncDisposable
{
    private readonly Process _process;
    private readonly OutputTail _output;
    private readonly List<IDisposable> _owned = [];
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private QemuGuest(GuestOptions options, Accelerator accelerator, GuestPaths paths, Process process, OutputTail output, GuestRam? ram)
    {
        Options = options;
        Accelerator = accelerator;
        Paths = paths;
        _process = process;
        _output = output;
        Ram = ram;
        Pid = process.Id;
    }

    /// <summary>How it was started.</summary>
    public GuestOptions Options { get; }

    /// <summary>The guest's name.</summary>
    public string Name => Options.Name;

    /// <summary>The accelerator it runs with (resolved: TCG or KVM).</summary>
    public Accelerator Accelerator { get; }

    /// <summary>Its files and sockets.</summary>
    public GuestPaths Paths { get; }

    /// <summary>QEMU's process id.</summary>
    public int Pid { get; }

    /// <summary>The guest's RAM, or null with <see cref="GuestRamBacking.Anonymous"/>.</summary>
    public GuestRam? Ram { get; }

    /// <summary>The QMP connection.</summary>
    public QmpClient Qmp { get; private set; } = null!;

    /// <summary>The command channel, or null for a guest on a custom initramfs.</summary>
    public GuestShell? Shell { get; private set; }

    /// <summary>From starting QEMU to the guest's ready line (or QMP's greeting without a command channel).</summary>
    public TimeSpan BootTime { get; private set; }

    /// <summary>The guest's uptime when it reported ready (its kernel's view of the boot), or null without a command channel.</summary>
    public double? GuestUptimeAtReady { get; private set; }

    /// <summary>Where it is in its life.</summary>
    public GuestState State => _exited.Task.IsCompleted ? GuestState.Exited : Shell == null || Shell.IsReady ? GuestState.Running : GuestState.Booting;

    /// <summary>Completes with QEMU's exit status when it has exited.</summary>
    public Task<int> Exited => _exited.Task;

    /// <summary>QEMU's resident set (VmRSS), or null once it has exited.</summary>
    public long? QemuRssBytes => ProcessInfo.RssBytes(Pid);

    /// <summary>The command channel, or an error for a guest that has none.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a guest on a custom initramfs.</exception>
    public GuestShell RequireShell() => Shell ?? throw new QemuException(QemuError.InvalidArgument, $"guest {Name} runs a custom initramfs and has no command channel");

    /// <summary>
    /// Starts QEMU for <paramref name="options"/> and waits until the guest is ready. On any failure
    /// (QEMU missing or refusing its options, the guest dying or not getting ready in time) everything
    /// started is ended before the error is thrown.
    /// </summary>
    /// <exception cref="QemuException">Typed: <see cref="QemuError.InvalidArgument"/>, <see cref="QemuError.QemuNotFound"/>,
    /// <see cref="QemuError.AcceleratorUnavailable"/>, <see cref="QemuError.HostResourceFailed"/>,
    /// <see cref="QemuError.GuestDied"/>, <see cref="QemuError.Timeout"/>.</exception>
    public static async Task<QemuGuest> StartAsync(GuestOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Accelerator accelerator = AcceleratorProbe.Resolve(options.Accelerator);
        QemuBinary qemu = options.Qemu ?? QemuBinary.Find();
        var paths = new GuestPaths(RunDirectory.CreateGuestDirectory(options.Name));
        GuestRam? ram = null;
        Socket? qmpListener = null, commandListener = null;
        QemuGuest? guest = null;
        try
        {
            if (options.RamBacking == GuestRamBacking.Memfd) ram = GuestRam.Create(options.Name, options.RamBytes);
            qmpListener = Listen(paths.QmpSocket);
            commandListener = Listen(paths.CommandSocket);
            IReadOnlyList<string> args = QemuCommandLine.Build(options, accelerator, paths, ram?.QemuPath);
            var clock = Stopwatch.StartNew();
            Process process = ProcessLauncher.Start(qemu.Path, args, paths.Directory);
            var output = new OutputTail(process);
            guest = new QemuGuest(options, accelerator, paths, process, output, ram);
            RunDirectory.WriteRecord(paths.Directory, new GuestRecord(options.Name, Environment.ProcessId, process.Id, ram?.Fd ?? -1, options.RamBytes, paths.MonitorSocket, paths.ConsoleLog, paths.Directory));
            _ = guest.WatchExitAsync();
            await guest.ConnectAsync(qmpListener, commandListener, clock, cancel).ConfigureAwait(false);
            return guest;
        }
        catch
        {
            if (guest != null) await guest.DisposeAsync().ConfigureAwait(false);
            else
            {
                ram?.Dispose();
                TryDeleteDirectory(paths.Directory);
            }
            throw;
        }
        finally
        {
            qmpListener?.Dispose();
            commandListener?.Dispose();
        }
    }

    private async Task ConnectAsync(Socket qmpListener, Socket commandListener, Stopwatch clock, CancellationToken cancel)
    {
        TimeSpan timeout = Options.BootTimeout;
        Socket qmpSocket = await AcceptAsync(qmpListener, "QMP", timeout, cancel).ConfigureAwait(false);
        _owned.Add(qmpSocket);
        Socket commandSocket = await AcceptAsync(commandListener, "the command channel", timeout, cancel).ConfigureAwait(false);
        _owned.Add(commandSocket);
        Qmp = await UntilExit(QmpClient.OpenAsync(new NetworkStream(qmpSocket, ownsSocket: true), timeout, cancel), "QMP greeting").ConfigureAwait(false);
        Qmp.CloseReason = ExplainClose;
        if (Options.Image != null && Options.Incoming != null)
        {
            // A migration target: the guest said ready on its source long ago and goes on serving commands.
            Shell = new GuestShell(new NetworkStream(commandSocket, ownsSocket: true)) { CloseReason = ExplainClose };
            Shell.MarkReadyWithoutBoot();
        }
        else if (Options.Image != null)
        {
            Shell = new GuestShell(new NetworkStream(commandSocket, ownsSocket: true)) { CloseReason = ExplainClose };
            TimeSpan left = timeout - clock.Elapsed;
            GuestUptimeAtReady = await UntilExit(Shell.WaitReadyAsync(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1), cancel), "boot").ConfigureAwait(false);
        }
        BootTime = clock.Elapsed;
        if (_exited.Task.IsCompleted) throw Died();
    }

    /// <summary>Asks QEMU to quit (QMP <c>quit</c>) and waits up to <paramref name="timeout"/> for it to exit; kills it if it does not.</summary>
    public async Task ShutdownAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        if (_exited.Task.IsCompleted) return;
        try
        {
            await Qmp.QuitAsync(cancel).ConfigureAwait(false);
        }
        catch (QemuException)
        {
            // the connection ends as QEMU quits; whether the reply came first does not matter
        }
        try
        {
            await _exited.Task.WaitAsync(timeout, cancel).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Kill();
        }
    }

    /// <summary>Ends QEMU now, by its pid (SIGKILL), and waits for it; the guest is then <see cref="GuestState.Exited"/>.</summary>
    public void Kill()
    {
        ProcessLauncher.Kill(_process);
        _exited.Task.Wait(TimeSpan.FromSeconds(10));
    }

    /// <summary>The last lines QEMU printed (its own errors) and the console's last lines.</summary>
    public string LastWords()
    {
        string console = "";
        try
        {
            string text = File.Exists(Paths.ConsoleLog) ? File.ReadAllText(Paths.ConsoleLog) : "";
            string[] lines = text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0 && !l.StartsWith("gmm-heartbeat", StringComparison.Ordinal)).ToArray();
            string? panic = lines.LastOrDefault(l => l.Contains("Kernel panic", StringComparison.Ordinal)); // a panic's trace would push it out of the tail
            IEnumerable<string> tail = lines.TakeLast(6);
            console = string.Join(" | ", panic != null && !tail.Contains(panic) ? tail.Prepend(panic + " ...") : tail);
        }
        catch (IOException) { /* the folder is being deleted */ }
        string qemu = _output.Text;
        return $"QEMU said: {(qemu.Length > 0 ? qemu : "(nothing)")}; console: {(console.Trim().Length > 0 ? console.Trim() : "(empty)")}";
    }

    /// <summary>Kills QEMU (unless it has exited), closes the channels and the memfd, deletes the guest's folder. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Kill();
        if (Shell != null) await Shell.DisposeAsync().ConfigureAwait(false);
        if (Qmp != null) await Qmp.DisposeAsync().ConfigureAwait(false);
        foreach (IDisposable d in _owned) d.Dispose();
        Ram?.Dispose();
        _process.Dispose();
        TryDeleteDirectory(Paths.Directory);
    }

    private async Task WatchExitAsync()
    {
        try { await _process.WaitForExitAsync().ConfigureAwait(false); }
        catch (InvalidOperationException) { /* disposed */ }
        int status;
        try { status = _process.ExitCode; }
        catch (InvalidOperationException) { status = -1; }
        await _output.Completion.WaitAsync(TimeSpan.FromSeconds(2)).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        ProcessLauncher.Forget(_process);
        _exited.TrySetResult(status);
        if (Volatile.Read(ref _disposed) == 0)
        {
            Qmp?.Fail(Died());
            Shell?.Fail(Died());
        }
    }

    /// <summary>Why a channel ended: GuestDied when QEMU exits within 2 s of it, else null (the channel's own error).</summary>
    private QemuException? ExplainClose()
    {
        if (Volatile.Read(ref _disposed) != 0) return null;
        return _exited.Task.Wait(TimeSpan.FromSeconds(2)) ? Died() : null;
    }

    private QemuException Died()
    {
        string how = _exited.Task.IsCompleted ? _exited.Task.Result switch
        {
            -1 => "exited",
            137 or -9 => "was killed (SIGKILL)",
            int s => $"exited with status {s}",
        } : "ended its connection";
        return new QemuException(QemuError.GuestDied, $"guest {Name}: QEMU (pid {Pid}) {how}. {LastWords()}");
    }

    /// <summary>Waits for <paramref name="task"/>, but fails with GuestDied as soon as QEMU exits.</summary>
    private async Task<T> UntilExit<T>(Task<T> task, string what)
    {
        Task first = await Task.WhenAny(task, _exited.Task).ConfigureAwait(false);
        if (first == task) return await task.ConfigureAwait(false);
        _ = task.ContinueWith(t => t.Exception, TaskScheduler.Default); // observed
        throw new QemuException(QemuError.GuestDied, $"guest {Name} died during {what}: {Died().Message}");
    }

    private async Task<Socket> AcceptAsync(Socket listener, string what, TimeSpan timeout, CancellationToken cancel)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(timeout);
        Task<Socket> accept = listener.AcceptAsync(deadline.Token).AsTask();
        try
        {
            return await UntilExit(accept, $"connecting {what}").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new QemuException(QemuError.Timeout, $"guest {Name}: QEMU did not connect {what} within {timeout.TotalSeconds:0} s. {LastWords()}");
        }
    }

    private static Socket Listen(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen(1);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new QemuException(QemuError.HostResourceFailed, $"cannot listen on {path}: {e.Message}", e);
        }
    }

    private static void TryDeleteDirectory(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* the stale reaper removes it later */ }
    }
}
