using System.Buffers.Binary;
using System.Net.Sockets;
using GuestMemory.Migration;

namespace GuestMemory.Qemu;

public sealed partial class QemuVmStore
{
    private const int MaxPreambleBytes = 256 << 20;

    /// <summary>
    /// Moves stored VM <paramref name="name"/> to the store listening at <paramref name="host"/>:<paramref name="port"/>
    /// (<see cref="QemuStoreListener"/>): its QEMU state first (<c>GQMV</c>, a length and the state), then its RAM
    /// with GuestMemory's own migration protocol, whose content references leave out every page whose content the
    /// target already holds. Once the target has committed it, the VM leaves this store.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoredVmNotFound"/>, <see cref="QemuError.InvalidArgument"/>,
    /// <see cref="QemuError.HostResourceFailed"/> (no connection); the migration's <see cref="GmmException"/> (refused by the target,
    /// connection lost...). On failure the VM stays here.</exception>
    public async Task<MoveReport> MoveAsync(string name, string host, int port, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (port is < 1 or > 65535) throw new QemuException(QemuError.InvalidArgument, $"a port is 1-65535, not {port}");
        RequireWritable();
        StoredVm stored = Acquire(name);
        MoveReport report;
        try
        {
            VirtualMachine vm = stored.Vm ?? Fill(stored);
            try
            {
                NetworkStream connection;
                try { connection = MigrationEndpoint.Connect(host, port); }
                catch (GmmException e)
                {
                    throw new QemuException(QemuError.HostResourceFailed, $"cannot connect to the store at {host}:{port}: {e.Message}", e);
                }
                using (connection)
                {
                    WritePreamble(connection, QemuStoreListener.MoveMagic, name, stored.State);
                    // A stored VM does not run: there are no writers to pause or resume.
                    report = await Task.Run(() => vm.MoveTo(connection, () => { }, () => { }), cancel).ConfigureAwait(false);
                }
            }
            finally
            {
                if (stored.Vm == null) vm.Dispose();
            }
        }
        finally
        {
            Release(stored);
        }
        Delete(name);
        return report;
    }

    /// <summary>Receives a VM another store moves here (the listener calls this after the <c>GQMV</c> magic) and keeps it under its name.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoreCorrupt"/> (a damaged preamble), <see cref="QemuError.StoredVmExists"/>,
    /// <see cref="QemuError.InvalidArgument"/>; the migration's <see cref="GmmException"/>. Nothing is kept on failure.</exception>
    public StoredVmInfo ReceiveMove(System.IO.Stream connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        (string name, QemuVmState state) = ReadPreamble(connection);
        Reserve(name);
        VirtualMachine? vm = null;
        try
        {
            vm = Gmm.ReceiveVm(connection, new IncomingOptions
            {
                RegisterRanges = v =>
                {
                    for (int i = 1; i < state.Blocks.Count; i++) v.Memory.RegisterRam(state.BlockAddress(i), (ulong)state.Blocks[i].Length, state.Blocks[i].Id);
                },
            }).Vm;
            Keep(name, state, vm);
            return List().Single(v => v.Name == name);
        }
        catch
        {
            if (vm is { IsDestroyed: false }) vm.Dispose();
            throw;
        }
        finally
        {
            Unreserve(name);
        }
    }

    /// <summary>A magic (what the connection carries), then the name and state as <see cref="ReadPreamble"/> reads them.</summary>
    internal static void WritePreamble(System.IO.Stream connection, byte[] magic, string name, QemuVmState state)
    {
        connection.Write(magic);
        WriteNamedState(connection, name, state);
    }

    /// <summary>A length, the name and the state.</summary>
    private static void WriteNamedState(System.IO.Stream connection, string name, QemuVmState state)
    {
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(name);
            state.WriteTo(w);
        }
        byte[] header = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(header, (int)body.Length);
        connection.Write(header);
        connection.Write(body.GetBuffer(), 0, (int)body.Length);
    }

    /// <summary>Reads the preamble after its magic: a length, the name and the state.</summary>
    private static (string Name, QemuVmState State) ReadPreamble(System.IO.Stream connection)
    {
        try
        {
            byte[] length = new byte[4];
            connection.ReadExactly(length);
            int n = BinaryPrimitives.ReadInt32LittleEndian(length);
            if (n <= 0 || n > MaxPreambleBytes) throw new QemuException(QemuError.StoreCorrupt, $"a moved VM's preamble of {n} bytes");
            byte[] body = new byte[n];
            connection.ReadExactly(body);
            using var r = new BinaryReader(new MemoryStream(body));
            string name = r.ReadString();
            ValidateName(name);
            return (name, QemuVmState.ReadFrom(r, $"the preamble of moved VM {name}"));
        }
        catch (EndOfStreamException e)
        {
            throw new QemuException(QemuError.StreamTruncated, "the connection ended inside a moved VM's preamble", e);
        }
    }
}
