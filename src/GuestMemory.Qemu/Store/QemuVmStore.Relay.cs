using System.Diagnostics;
using System.Net.Sockets;
using GuestMemory.Migration;

namespace GuestMemory.Qemu;

/// <summary>What a live relay did (<see cref="QemuVmStore.RelayAsync"/>).</summary>
/// <param name="Name">The VM's name at the target store.</param>
/// <param name="QemuBytes">Bytes QEMU's source sent here.</param>
/// <param name="Move">The move to the target store (its bytes, passes and downtime).</param>
/// <param name="TargetOutcome">What the target store did with it: "stored", or "resumed at HOST:PORT".</param>
/// <param name="FinalPassWait">From QEMU's stream ending here (the guest stopped at the source) to the target store's answer: the relay's share of the guest's downtime.</param>
public sealed record RelayReport(string Name, long QemuBytes, MoveReport Move, string TargetOutcome, TimeSpan FinalPassWait);

public sealed partial class QemuVmStore
{
    /// <summary>The first 4 bytes of a live relay from another host (<see cref="RelayAsync"/>).</summary>
    internal static readonly byte[] RelayMagic = "GQRL"u8.ToArray();

    /// <summary>Relays that may hold a started guest before their VM has arrived (<see cref="ReceiveRelay"/> with a guest); more are kept, not resumed.</summary>
    public const int MaxGuestStarts = 4;

    private readonly SemaphoreSlim _guestStarts = new(MaxGuestStarts, MaxGuestStarts);

    /// <summary>How long a relay's target waits for the next frame: the source's final pass waits for QEMU's last iterations.</summary>
    private static readonly TimeSpan RelayFrameTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The live path: takes the stream of a QEMU that migrates a running guest here and moves the VM on, while
    /// it arrives, to the store at <paramref name="host"/>:<paramref name="port"/> with GuestMemory's own
    /// protocol (content references: pages whose content the target holds are not sent). Once half the pages
    /// have arrived (QEMU's bulk stage is half over), pre-copy passes to the target carry what has arrived; the move's
    /// final pass waits for QEMU's stream to end (QEMU stops the guest for its own final pass) and carries
    /// what came since; the device state follows, and the target store keeps the VM or resumes it into its
    /// QEMU (<see cref="QemuStoreListenerOptions.ResumeTo"/>). Nothing of the VM stays here.
    /// </summary>
    /// <exception cref="QemuException">The stream's errors (<see cref="QemuError.StreamUnsupported"/>, <see cref="QemuError.StreamCorrupt"/>,
    /// <see cref="QemuError.StreamTruncated"/>); <see cref="QemuError.HostResourceFailed"/> (no connection to the target);
    /// <see cref="QemuError.RelayFailed"/> (the target store took the VM but could not resume it: it keeps it).</exception>
    /// <exception cref="GmmException">The move's errors (the target refused, the connection broke). Nothing is kept here on any error,
    /// and <paramref name="qemu"/> is closed then, so QEMU's migration fails and the guest runs on at the source.</exception>
    public async Task<RelayReport> RelayAsync(System.IO.Stream qemu, string name, string host, int port, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(qemu);
        ArgumentNullException.ThrowIfNull(host);
        ValidateName(name);
        if (port is < 1 or > 65535) throw new QemuException(QemuError.InvalidArgument, $"a port is 1-65535, not {port}");
        ObjectDisposedException.ThrowIf(_disposed, this);
        var receiver = new VmReceiver(Gmm, (_, blocks) => VmOptionsFor(name, blocks));
        var halfSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        receiver.HalfPagesSeen += () => halfSeen.TrySetResult();
        var listed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        receiver.BlocksListed += () => listed.TrySetResult();
        // The target store first: if it cannot be reached, QEMU's connection closes at once and its migration fails
        // while the guest still runs at the source (once QEMU has sent its last byte it stops the guest for good).
        NetworkStream connection;
        try { connection = MigrationEndpoint.Connect(host, port); }
        catch (GmmException e)
        {
            qemu.Dispose();
            throw new QemuException(QemuError.HostResourceFailed, $"cannot connect to the store at {host}:{port}: {e.Message}", e);
        }
        var reader = new QemuStreamReader(qemu);
        long ended = 0; // when QEMU's stream ended: written by the reading task before it completes, read after
        Task reading = Task.Factory.StartNew(() =>
        {
            reader.Read(receiver);
            ended = Stopwatch.GetTimestamp();
        }, cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            // The layout goes as soon as QEMU listed its blocks (so the target never waits for a first byte, and a target
            // that resumes into a guest of its own starts its QEMU), the RAM once half the pages arrived (see VmReceiver.HalfPagesSeen).
            await Task.WhenAny(listed.Task, reading).ConfigureAwait(false);
            if (reading.IsFaulted || reading.IsCanceled) await reading.ConfigureAwait(false); // the stream's own error
            WritePreamble(connection, RelayMagic, name, receiver.PartialState);
            await Task.WhenAny(halfSeen.Task, reading).ConfigureAwait(false);
            if (reading.IsFaulted || reading.IsCanceled) await reading.ConfigureAwait(false);
            VirtualMachine vm = receiver.Vm!;
            // The move's writers are the stream's page records: "paused" once QEMU's stream has ended.
            // A stream that fails makes the pause throw, and the move fails (the target discards it).
            MoveReport move = await Task.Run(() => vm.MoveTo(new KeepOpenStream(connection), () => reading.GetAwaiter().GetResult(), () => { },
                new MoveOptions { Timeout = RelayFrameTimeout }), cancel).ConfigureAwait(false);
            WriteNamedState(connection, name, receiver.State!);
            string outcome = await Task.Run(() => ReadVerdict(connection), cancel).ConfigureAwait(false);
            return new RelayReport(name, reader.Position, move, outcome, Stopwatch.GetElapsedTime(ended));
        }
        catch
        {
            // Closing QEMU's connection before it sent its last byte fails its migration, so the guest runs on at
            // the source (after that QEMU has stopped it: `cont` there resumes it); it also ends the reading task.
            qemu.Dispose();
            try { await reading.ConfigureAwait(false); } catch (Exception e) when (e is QemuException or GmmException or IOException or SocketException or ObjectDisposedException) { }
            receiver.Abandon();
            throw;
        }
        finally
        {
            connection.Dispose();
        }
    }

    /// <summary>
    /// Receives a live relay (the listener calls this after the <c>GQRL</c> magic): the VM's layout, its RAM with
    /// the core's migration protocol, then its device state; then resumes it into the QEMU at
    /// <paramref name="resumeTo"/>, or into a guest this host starts with the options <paramref name="resumeGuest"/>
    /// gives for the VM's name and main RAM size — started as the relay begins, so its QEMU is up when the VM
    /// has arrived, and the VM's main RAM is written into its memfd (<see cref="ResumeGuestAsync"/>) — and does not
    /// keep it; or keeps it. Answers the relay with the outcome. At most <see cref="MaxGuestStarts"/> relays hold a
    /// started guest at once (a peer's first bytes alone start a QEMU here); a VM that finds none free is kept.
    /// </summary>
    /// <returns>The stored VM (null when resumed), the resume's report (null when stored) and the guest it was resumed in (with <paramref name="resumeGuest"/>; the caller owns it).</returns>
    /// <exception cref="QemuException"><see cref="QemuError.StoreCorrupt"/>, <see cref="QemuError.StoredVmExists"/>, <see cref="QemuError.InvalidArgument"/>;
    /// <see cref="QemuError.RelayFailed"/> when the resume failed (the VM is then kept, so nothing is lost); the migration's <see cref="GmmException"/> (nothing kept).</exception>
    public (StoredVmInfo? Stored, ResumeReport? Resumed, QemuGuest? Guest) ReceiveRelay(System.IO.Stream connection, (string Host, int Port)? resumeTo, TimeSpan resumeTimeout,
        Func<string, long, GuestOptions>? resumeGuest = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (resumeTo != null && resumeGuest != null) throw new QemuException(QemuError.InvalidArgument, "a relay resumes into a waiting QEMU or into a guest of this host's, not both");
        (string name, QemuVmState layout) = ReadPreamble(connection);
        Reserve(name);
        var clock = Stopwatch.StartNew();
        GuestTarget? guest = null;
        QemuException? cannotStart = null;
        VirtualMachine? vm = null;
        bool startSlot = false;
        try
        {
            if (resumeGuest != null)
            {
                // A peer's preamble alone starts a QEMU process here: only so many wait for their VM at once.
                startSlot = _guestStarts.Wait(0);
                try
                {
                    guest = startSlot ? GuestTarget.Start(name, layout, resumeGuest(name, layout.Blocks[0].Length), CancellationToken.None)
                        : throw new QemuException(QemuError.HostResourceFailed, $"{MaxGuestStarts} relayed VMs wait for their guests already");
                }
                catch (QemuException e) { cannotStart = e; } // the VM is received and kept all the same
            }
            vm = Gmm.ReceiveVm(new KeepOpenStream(connection), new IncomingOptions
            {
                RegisterRanges = v =>
                {
                    for (int i = 1; i < layout.Blocks.Count; i++) v.Memory.RegisterRam(layout.BlockAddress(i), (ulong)layout.Blocks[i].Length, layout.Blocks[i].Id);
                },
                Timeout = RelayFrameTimeout,
            }).Vm;
            (string tailName, QemuVmState state) = ReadPreamble(connection);
            if (tailName != name || state.Machine != layout.Machine || !state.Blocks.SequenceEqual(layout.Blocks))
                throw new QemuException(QemuError.StoreCorrupt, $"relay {name}: the device state that followed names {tailName} with another layout");
            if (resumeTo != null || resumeGuest != null)
            {
                string where = resumeTo is (string host, int port) ? $"{host}:{port}" : "a guest of this host's";
                try
                {
                    var arrived = new StoredVm(name, state, null, vm, -1, 0);
                    ResumeReport resumed;
                    QemuGuest? started = null;
                    if (resumeTo is (string h, int p)) resumed = ResumeCoreAsync(arrived, h, p, resumeTimeout, CancellationToken.None).GetAwaiter().GetResult();
                    else (started, resumed) = (guest ?? throw cannotStart!).ResumeAsync(this, arrived, null, clock, CancellationToken.None).GetAwaiter().GetResult();
                    vm.Dispose();
                    WriteVerdict(connection, started != null ? $"resumed as guest {started.Name}" : $"resumed at {where}");
                    return (null, resumed, started);
                }
                catch (QemuException e)
                {
                    Keep(name, state, vm);
                    WriteVerdict(connection, $"kept: the resume at {where} failed: {e.Message}", failed: true);
                    throw new QemuException(QemuError.RelayFailed, $"relay {name} arrived but its resume at {where} failed; it is kept in the store: {e.Message}", e);
                }
            }
            Keep(name, state, vm);
            WriteVerdict(connection, "stored");
            return (List().Single(v => v.Name == name), null, null);
        }
        catch (Exception e) when (e is not QemuException { Error: QemuError.RelayFailed })
        {
            if (vm is { IsDestroyed: false }) vm.Dispose();
            throw;
        }
        finally
        {
            Unreserve(name);
            guest?.DisposeAsync().AsTask().GetAwaiter().GetResult(); // ends a guest no resume took
            if (startSlot) _guestStarts.Release();
        }
    }

    /// <summary>The target's answer to a relay: a status byte and a line.</summary>
    private static void WriteVerdict(System.IO.Stream connection, string text, bool failed = false)
    {
        using var w = new BinaryWriter(connection, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(failed);
        w.Write(text);
        w.Flush();
    }

    /// <summary>The longest verdict line a target may send (its length is checked before anything is allocated).</summary>
    private const int MaxVerdictBytes = 64 << 10;

    private static string ReadVerdict(System.IO.Stream connection)
    {
        try
        {
            using var r = new BinaryReader(connection, System.Text.Encoding.UTF8, leaveOpen: true);
            bool failed = r.ReadBoolean();
            int length = r.Read7BitEncodedInt();
            if (length is < 0 or > MaxVerdictBytes) throw new QemuException(QemuError.RelayFailed, $"the target store answered with a verdict of {length} bytes");
            byte[] bytes = r.ReadBytes(length);
            if (bytes.Length != length) throw new EndOfStreamException("the verdict was cut");
            string text = System.Text.Encoding.UTF8.GetString(bytes);
            return failed ? throw new QemuException(QemuError.RelayFailed, $"the target store {text}") : text;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException)
        {
            throw new QemuException(QemuError.RelayFailed, $"the target store closed the connection before it said what became of the VM: {e.Message}", e);
        }
    }
}
