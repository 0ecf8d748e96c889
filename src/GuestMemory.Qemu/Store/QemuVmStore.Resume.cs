using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using GuestMemory.Gmm;
using System.Runtime.CompilerServices;

namespace GuestMemory.Qemu;

/// <summary>What a resume sent and how long it took.</summary>
/// <param name="Name">The stored VM.</param>
/// <param name="BytesSent">Bytes of the QEMU stream sent.</param>
/// <param name="Elapsed">From connecting to the target's confirmation that it loaded the stream.</param>
public sealed record ResumeReport(string Name, long BytesSent, TimeSpan Elapsed);

public sealed partial class QemuVmStore
{
    /// <summary>
    /// Sends stored VM <paramref name="name"/> to a QEMU started with <c>-incoming tcp:HOST:PORT</c> (the same
    /// machine type and devices; one still starting is waited for until <paramref name="timeout"/>) and waits for that QEMU to confirm it loaded the stream: the guest then runs
    /// on where it stopped, its RAM byte for byte what was received. The stored VM stays in the store.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoredVmNotFound"/>, <see cref="QemuError.InvalidArgument"/> (host or port),
    /// <see cref="QemuError.HostResourceFailed"/> (no connection), <see cref="QemuError.ResumeRefused"/> (the target closed the connection
    /// without loading the stream: another machine type, RAM blocks or devices), <see cref="QemuError.Timeout"/>, <see cref="QemuError.StoreCorrupt"/>.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed before or while a resident VM was sent.</exception>
    public async Task<ResumeReport> ResumeAsync(string name, string host, int port, TimeSpan timeout, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.Length == 0 || host.Any(char.IsWhiteSpace)) throw new QemuException(QemuError.InvalidArgument, $"a host is a name or address, not '{host}'");
        if (port is < 1 or > 65535) throw new QemuException(QemuError.InvalidArgument, $"a port is 1-65535, not {port}");
        if (timeout <= TimeSpan.Zero) throw new QemuException(QemuError.InvalidArgument, "the timeout must be positive");
        ObjectDisposedException.ThrowIf(_disposed, this);
        StoredVm stored = Acquire(name);
        try
        {
            return await ResumeCoreAsync(stored, host, port, timeout, cancel).ConfigureAwait(false);
        }
        finally
        {
            Release(stored);
        }
    }

    /// <summary>Sends <paramref name="stored"/> (listed or not) to the QEMU at <paramref name="host"/>:<paramref name="port"/> and waits for its verdict; see <see cref="ResumeAsync"/>.</summary>
    private async Task<ResumeReport> ResumeCoreAsync(StoredVm stored, string host, int port, TimeSpan timeout, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        // The dictionaries are made, and the first frames decompressed, while a QEMU just started opens its port.
        using FrameFeed? feed = stored.Vm == null ? new FrameFeed(stored.Refs!, SegmentByNumber) : null;
        string target = $"the target QEMU at {host}:{port}";
        Socket socket = await ConnectAsync(new DnsEndPoint(host, port), target, timeout, cancel).ConfigureAwait(false);
        socket.NoDelay = true;
        return await SendAsync(stored, socket, target, feed, mainRam: null, timeout, clock, cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the stream of <paramref name="stored"/> to the target QEMU on <paramref name="socket"/> (its own
    /// from then on) and waits for its verdict. With <paramref name="mainRam"/>, the main RAM block goes into
    /// the target's RAM directly and the stream carries the other blocks and the devices.
    /// </summary>
    internal async Task<ResumeReport> SendAsync(StoredVm stored, Socket socket, string target, FrameFeed? feed, MainRamWriter? mainRam, TimeSpan timeout, Stopwatch clock, CancellationToken cancel)
    {
        string name = stored.Name;
        using var stream = new NetworkStream(socket, ownsSocket: true);
        long sent;
        try
        {
            sent = await Task.Run(() => WriteStream(stored, stream, openReturnPath: true, feed, mainRam), cancel).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new QemuException(QemuError.ResumeRefused, $"{target} closed the connection while {name} was sent: it refused the stream (another machine type or RAM blocks than {stored.State.Machine} with {BlockList(stored.State)}?); its own log says why", e);
        }
        uint? shut = await ReturnPath.ReadShutAsync(stream, timeout, cancel).ConfigureAwait(false);
        if (shut != 0)
            throw new QemuException(QemuError.ResumeRefused, shut == null
                ? $"{target} did not load {name}: it closed the connection without confirming (its machine type or devices differ from {stored.State.Machine} with {stored.State.Devices.Count} device sections; its own log says which)"
                : $"{target} reported failure {shut} after loading {name}");
        return new ResumeReport(name, sent, clock.Elapsed);
    }

    /// <summary>
    /// Connects to the target QEMU, trying again every 5 ms while nothing listens there yet (a QEMU just
    /// started opens its <c>-incoming</c> port or socket a moment later), until <paramref name="timeout"/>.
    /// </summary>
    internal static async Task<Socket> ConnectAsync(EndPoint endpoint, string target, TimeSpan timeout, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var socket = endpoint is UnixDomainSocketEndPoint
                ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                : new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                connect.CancelAfter(timeout);
                await socket.ConnectAsync(endpoint, connect.Token).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable && clock.Elapsed < timeout)
            {
                socket.Dispose();
                await Task.Delay(5, cancel).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !cancel.IsCancellationRequested)
            {
                socket.Dispose();
                throw new QemuException(QemuError.HostResourceFailed, $"cannot connect to {target} within {timeout.TotalSeconds:0} s: {e.Message}", e);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>Writes stored VM <paramref name="name"/> as a QEMU stream to <paramref name="destination"/> (a file QEMU loads with <c>-incoming "exec:cat F"</c>, a socket); returns the bytes written.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoredVmNotFound"/>, <see cref="QemuError.StoreCorrupt"/>.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed before or while a resident VM was written.</exception>
    public long WriteStream(string name, System.IO.Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        StoredVm stored = Acquire(name);
        try
        {
            using FrameFeed? feed = stored.Vm == null ? new FrameFeed(stored.Refs!, SegmentByNumber) : null;
            return WriteStream(stored, destination, openReturnPath: false, feed, mainRam: null);
        }
        finally { Release(stored); }
    }

    /// <summary>
    /// The stream of a stored VM: header, configuration, (the return path), the ram section's setup, one END
    /// section with every page (a zero record for each zero page: a fresh target's ROM blocks are not zero),
    /// the device sections as received, EOF and the description. Pages come from the resident VM, else from
    /// the page files, frame by frame (<paramref name="feed"/>). With <paramref name="mainRam"/>, block 0's pages
    /// are written there instead, all before the device sections go (a device's load may read guest RAM: a
    /// virtio queue's indexes). A resident VM whose pages go with the store's <see cref="Dispose"/> meanwhile
    /// ends it with <see cref="ObjectDisposedException"/> (the store's disposal, not the VM's fault).
    /// </summary>
    private long WriteStream(StoredVm stored, System.IO.Stream destination, bool openReturnPath, FrameFeed? feed, MainRamWriter? mainRam)
    {
        QemuVmState state = stored.State;
        var writer = new QemuStreamWriter(destination);
        writer.WriteHeader(state.Configuration);
        if (openReturnPath) writer.WriteOpenReturnPath();
        writer.WriteRamSetup(state.Ram, state.Blocks);
        writer.BeginRamSection(final: true);
        VirtualMachine? vm = stored.Vm;
        if (vm == null) WriteFilePages(state, stored.Refs!, writer, feed!, mainRam);
        else
        {
            try { WriteResidentPages(state, vm, writer, mainRam); }
            catch (GmmException e) when (e.Error == GmmError.VmDestroyed && _disposed)
            {
                throw new ObjectDisposedException($"the store was disposed while {stored.Name} was written out (its files keep it)", e);
            }
        }
        mainRam?.Flush();
        writer.EndRamSection();
        foreach (DeviceSection device in state.Devices) writer.WriteDeviceSection(device.Raw);
        writer.WriteEnd(state.Description);
        writer.Flush();
        return writer.BytesWritten;
    }

    /// <summary>The pages of a resident VM, in guest order (block 0's into <paramref name="mainRam"/> when given).</summary>
    private static void WriteResidentPages(QemuVmState state, VirtualMachine vm, QemuStreamWriter writer, MainRamWriter? mainRam)
    {
        byte[] buffer = new byte[ReadPages * QemuStreamFormat.PageSize];
        long page = 0;
        for (int b = 0; b < state.Blocks.Count; b++)
        {
            long pages = state.Blocks[b].Pages;
            MainRamWriter? ram = b == 0 ? mainRam : null; // block 0 into the target's RAM: its zero pages are holes there
            for (long first = 0; first < pages; first += ReadPages)
            {
                int count = (int)Math.Min(ReadPages, pages - first);
                vm.Memory.Read((ulong)(page + first) * QemuStreamFormat.PageSize, buffer.AsSpan(0, count * QemuStreamFormat.PageSize));
                for (int i = 0; i < count; i++)
                {
                    Span<byte> data = buffer.AsSpan(i * QemuStreamFormat.PageSize, QemuStreamFormat.PageSize);
                    long offset = (first + i) * QemuStreamFormat.PageSize;
                    if (data.ContainsAnyExcept((byte)0))
                    {
                        if (ram != null) ram.Write(offset, data);
                        else writer.WritePage(b, offset, data);
                    }
                    else if (ram == null) writer.WriteFilledPage(b, offset, 0);
                }
            }
            page += pages;
        }
    }

    /// <summary>
    /// The pages of a stored VM from its page files: zero pages first, then the others in the order of their
    /// contents in the files (QEMU takes page records in any order), as <paramref name="feed"/> decompresses them.
    /// Zero pages first because the target QEMU checks each zero page it is sent by reading it: on its fresh
    /// RAM that maps the kernel's shared zero page for a whole huge page at once, while after the pages with
    /// content it faults page by page (measured with the zero records last: 100-170 ms more per 256 MiB guest).
    /// With <paramref name="mainRam"/>, block 0's zero pages are its holes and its other pages go there.
    /// </summary>
    private static void WriteFilePages(QemuVmState state, ulong[] refs, QemuStreamWriter writer, FrameFeed feed, MainRamWriter? mainRam)
    {
        var blockStart = new long[state.Blocks.Count + 1];
        for (int b = 0; b < state.Blocks.Count; b++) blockStart[b + 1] = blockStart[b] + state.Blocks[b].Pages;
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        (int Block, long Offset) Where(long page)
        {
            int b = Array.BinarySearch(blockStart, page);
            b = b >= 0 ? b : ~b - 1;
            while (blockStart[b + 1] == page) b++; // empty blocks
            return (b, (page - blockStart[b]) * QemuStreamFormat.PageSize);
        }
        // With the target's RAM at hand, block 0 (pages 0 to mainPages) goes there: its zero pages are holes
        // already, and a page's offset in it is its number's (no block lookup on the per-page path).
        long mainPages = mainRam != null ? blockStart[1] : 0;
        for (long page = mainPages; page < refs.Length; page++)
        {
            if (refs[page] != 0) continue;
            (int block, long offset) = Where(page);
            writer.WriteFilledPage(block, offset, 0);
        }
        feed.ForEachPage([MethodImpl(MethodImplOptions.AggressiveOptimization)] (page, data) =>
        {
            if (page < mainPages)
            {
                mainRam!.Write((long)page * QemuStreamFormat.PageSize, data);
                return;
            }
            (int block, long offset) = Where(page);
            writer.WritePage(block, offset, data);
        });
    }

    private static string BlockList(QemuVmState state) => string.Join(", ", state.Blocks.Select(b => $"{b.Id} {b.Length >> 10} KiB"));
}
