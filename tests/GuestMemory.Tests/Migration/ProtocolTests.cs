using System.Buffers.Binary;
using GuestMemory.Fusion;
using GuestMemory.Migration;
using GuestMemory.Tests.Fusion;
using GuestMemory.Tests.State;

namespace GuestMemory.Tests.Migration;

/// <summary>The protocol's own checks: frames, content keys, the versioned handshake.</summary>
public sealed class ProtocolTests
{
    [Theory]
    [InlineData("payload byte", "the CRC of frame 1 does not match")]
    [InlineData("frames swapped", "frame 1 carries sequence number 2")]
    [InlineData("oversized control frame", "frame 0 declares 65537 payload bytes")]
    [InlineData("unknown tag", "frame 0 has the unknown tag")]
    public void AFrameThatFailsACheckIsCorrupt(string damage, string reason)
    {
        byte[] stream = damage switch
        {
            "payload byte" => Damage(Frames(), at: FrameAt(Frames(), 1) + 17),
            "frames swapped" => Swapped(Frames()),
            "oversized control frame" => Frame(MessageType.Stop, new byte[65537]),
            _ => Frame((MessageType)0x4B4E5558, [1, 2, 3]),
        };

        GmmException e = Assert.Throws<GmmException>(() => ReadAll(stream));

        Assert.Equal(GmmError.MigrationStreamCorrupt, e.Error);
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData(0, "before frame 0")]
    [InlineData(7, "inside frame 0")]
    [InlineData(20, "before frame 1")]
    [InlineData(25, "inside frame 1")]
    public void AStreamThatEndsIsALostConnectionThatSaysWhere(int bytes, string where)
    {
        byte[] stream = Frames().AsSpan(0, bytes).ToArray();

        GmmException e = Assert.Throws<GmmException>(() => ReadAll(stream));

        Assert.Equal(GmmError.MigrationConnectionLost, e.Error);
        Assert.Contains(where, e.Message);
    }

    [Fact]
    public void APageHashCollisionIsNotAContentKeyCollision()
    {
        byte[] page = StateTestHost.Bytes(Paging.PageSize, seed: 5);
        byte[] twin = HashCollisions.SameHashOtherBytes(page);

        Assert.Equal(PageHash.Compute(page), PageHash.Compute(twin));
        Assert.NotEqual(ContentKey.Of(page), ContentKey.Of(twin));
        Assert.Equal(ContentKey.Of(page), ContentKey.Of((byte[])page.Clone()));
    }

    [Fact]
    public void TheCheckHashSeesAChangeInEveryQuarterAndEveryWordLane()
    {
        byte[] page = StateTestHost.Bytes(Paging.PageSize, seed: 6);
        ulong check = ContentKey.CheckHash(page);
        for (int word = 0; word < Paging.PageSize / 8; word += 37)
        {
            byte[] changed = (byte[])page.Clone();
            changed[word * 8] ^= 1;
            Assert.NotEqual(check, ContentKey.CheckHash(changed));
        }
    }

    [Fact]
    public async Task AnotherProtocolVersionIsRefusedWithTheVersionsNamed()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.NewVm("from-the-future");
        Task<ReceivedVm> target = hosts.ReceiveOne();
        using var connection = new MigrationConnection(hosts.Connect(), TimeSpan.FromSeconds(20));
        var hello = new WireWriter();
        new Hello(MigrationMode.Move, vm.Options, GuestMemory.State.StateLayout.Of(vm.Memory.Ranges), 0, 0).WriteTo(hello);
        byte[] payload = hello.Written.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(MigrationProtocol.Magic.Length), 2);
        connection.Writer.Write(MessageType.Hello, payload);

        Frame answer = connection.Expect(MessageType.Refuse);
        Failure refusal = Failure.Read(answer.Payload, "REFUSE");
        GmmException e = await Assert.ThrowsAsync<GmmException>(() => target);

        Assert.Equal(GmmError.MigrationVersionUnsupported, refusal.Error);
        Assert.Contains("version 2", refusal.Message);
        Assert.Equal(GmmError.MigrationVersionUnsupported, Assert.IsType<GmmException>(e.InnerException).Error);
        Assert.Empty(hosts.Target.Gmm.Vms);
        hosts.Verify();
    }

    /// <summary>Three frames: STOP(7), PASS_END-shaped bytes, BYE.</summary>
    private static byte[] Frames()
    {
        var stream = new MemoryStream();
        var writer = new FrameWriter(stream);
        writer.Write(MessageType.Stop, [7, 0, 0, 0]);
        writer.Write(MessageType.PassEnd, new byte[61]);
        writer.Write(MessageType.Bye);
        return stream.ToArray();
    }

    private static byte[] Frame(MessageType type, byte[] payload)
    {
        var stream = new MemoryStream();
        new FrameWriter(stream).Write(type, payload);
        return stream.ToArray();
    }

    private static int FrameAt(byte[] frames, int index)
    {
        int at = 0;
        for (int i = 0; i < index; i++) at += MigrationProtocol.FrameHeaderBytes + (int)BinaryPrimitives.ReadUInt32LittleEndian(frames.AsSpan(at + 8));
        return at;
    }

    private static byte[] Damage(byte[] frames, int at)
    {
        frames[at] ^= 0x40;
        return frames;
    }

    /// <summary>The second and third frames change places.</summary>
    private static byte[] Swapped(byte[] frames)
    {
        int second = FrameAt(frames, 1), third = FrameAt(frames, 2);
        return [.. frames[..second], .. frames[third..], .. frames[second..third]];
    }

    private static void ReadAll(byte[] stream)
    {
        var reader = new FrameReader(new MeteredStream(new MemoryStream(stream), TimeSpan.FromSeconds(30)));
        while (true) reader.Read();
    }
}
