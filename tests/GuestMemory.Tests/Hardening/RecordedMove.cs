using System.Buffers.Binary;
using GuestMemory.Migration;
using GuestMemory.State;
using GuestMemory.Tests.Migration;
using GuestMemory.Tests.State;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// The frames a real source sent in one live move (with a guest writing, so there are pre-copy passes,
/// queries, STOP, a final pass, COMMIT and RESUME), and the RAM the target must end up with. A fuzzer
/// reorders them, then <see cref="Rebuild"/> renumbers and re-checksums them, so what reaches the target
/// passes every frame check and only the session's own rules can refuse it.
/// </summary>
internal sealed class RecordedMove
{
    private RecordedMove(List<(uint Tag, byte[] Payload)> frames, byte[] content)
    {
        Frames = frames;
        Content = content;
    }

    /// <summary>Tag and payload of each frame the source sent, in order.</summary>
    public IReadOnlyList<(uint Tag, byte[] Payload)> Frames { get; }

    /// <summary>The moved VM's RAM and ROM as it was when the source paused it.</summary>
    public byte[] Content { get; }

    /// <summary>Moves a mixed VM from one host to another over loopback TCP and records what the source sent.</summary>
    public static RecordedMove Capture(int seed)
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.MixedVm("fuzzed", seed);
        byte[] paused = [];
        Task<ReceivedVm> target = hosts.ReceiveOne();
        var recorder = new RecordingStream(hosts.Connect());
        using (var writer = new GuestWriter(vm, pages: 64, seed: seed))
        {
            writer.WaitForWrites(200);
            vm.MoveTo(recorder, () => { writer.Pause(); paused = VmSnapshot.Content(vm); }, writer.Resume, MigrationHosts.SourceOptions);
        }
        target.GetAwaiter().GetResult();
        return new RecordedMove(Split(recorder.Written), paused);
    }

    /// <summary>The bytes of <paramref name="frames"/> as a source would send them: sequence numbers 0, 1, ... and valid CRCs.</summary>
    public static byte[] Rebuild(IEnumerable<(uint Tag, byte[] Payload)> frames)
    {
        var stream = new MemoryStream();
        uint sequence = 0;
        Span<byte> header = stackalloc byte[16];
        foreach ((uint tag, byte[] payload) in frames)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(header, tag);
            BinaryPrimitives.WriteUInt32LittleEndian(header[4..], sequence++);
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)payload.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header[12..], Crc32C.Compute(header[..12], payload));
            stream.Write(header);
            stream.Write(payload);
        }
        return stream.ToArray();
    }

    private static List<(uint, byte[])> Split(byte[] bytes)
    {
        var frames = new List<(uint, byte[])>();
        for (int at = 0; at < bytes.Length;)
        {
            uint tag = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at));
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8));
            frames.Add((tag, bytes.AsSpan(at + 16, length).ToArray()));
            at += 16 + length;
        }
        return frames;
    }

    /// <summary>Passes everything through and keeps a copy of what was written.</summary>
    private sealed class RecordingStream(Stream inner) : Stream
    {
        private readonly MemoryStream _written = new();

        public byte[] Written => _written.ToArray();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override bool CanTimeout => inner.CanTimeout;
        public override int ReadTimeout { get => inner.ReadTimeout; set => inner.ReadTimeout = value; }
        public override int WriteTimeout { get => inner.WriteTimeout; set => inner.WriteTimeout = value; }
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _written.Write(buffer);
            inner.Write(buffer);
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>A target's connection that reads prepared bytes and swallows what the target writes (its answers).</summary>
internal sealed class ReplayStream(byte[] incoming) : Stream
{
    private readonly MemoryStream _incoming = new(incoming, writable: false);

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => _incoming.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => _incoming.Read(buffer);
    public override void Write(byte[] buffer, int offset, int count) { }
    public override void Write(ReadOnlySpan<byte> buffer) { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
