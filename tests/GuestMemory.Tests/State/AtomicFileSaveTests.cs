using GuestMemory.State;

namespace GuestMemory.Tests.State;

/// <summary>Saving to a file never leaves a partial state at the path: a temporary file is flushed and renamed over it.</summary>
public sealed class AtomicFileSaveTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gmm-state-").FullName;

    [Fact]
    public void ASavedFileRestoresAndLeavesNothingElseBehind()
    {
        using var host = new StateTestHost();
        VirtualMachine source = host.MixedVm("source", seed: 1);
        string path = Path.Combine(_directory, "vm.state");

        SavedStateSummary summary = source.SaveState(path);
        VirtualMachine copy = host.Gmm.RestoreVm(StateTestHost.Options("copy"), path, StateTestHost.RegisterDevices);

        Assert.Equal(VmSnapshot.Content(source), VmSnapshot.Content(copy));
        Assert.Equal([path], Directory.GetFiles(_directory));
        Assert.Equal(summary.Bytes, new FileInfo(path).Length);
        host.Gmm.Verify();
    }

    [Fact]
    public void AFailedSaveKeepsTheOldFileAndLeavesNoTemporaryFile()
    {
        using var host = new StateTestHost();
        (VirtualMachine source, byte[] old) = host.SavedMixedVm("source", seed: 2);
        string path = Path.Combine(_directory, "vm.state");
        File.WriteAllBytes(path, old);
        source.Memory.Write(0, StateTestHost.Bytes(Paging.PageSize, seed: 77));

        Assert.Throws<IOException>(() => SavedStateFile.Write(path, stream => source.SaveState(new FailingStream(stream, failAfter: 100_000))));

        Assert.Equal(old, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_directory));
        host.Gmm.Verify();
    }

    [Fact]
    public void AFailedFirstSaveLeavesNoFileAtAll()
    {
        using var host = new StateTestHost();
        VirtualMachine source = host.MixedVm("source", seed: 3);
        string path = Path.Combine(_directory, "vm.state");

        Assert.Throws<IOException>(() => SavedStateFile.Write(path, stream => source.SaveState(new FailingStream(stream, failAfter: 1000))));

        Assert.Empty(Directory.GetFiles(_directory));
        host.Gmm.Verify();
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Passes writes through until <c>failAfter</c> bytes, then fails as a full disk would.</summary>
    private sealed class FailingStream(Stream inner, long failAfter) : Stream
    {
        private long _written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > failAfter)
            {
                inner.Write(buffer[..(int)(failAfter - _written)]);
                throw new IOException("no space left on device (simulated)");
            }
            inner.Write(buffer);
            _written += buffer.Length;
        }
    }
}
