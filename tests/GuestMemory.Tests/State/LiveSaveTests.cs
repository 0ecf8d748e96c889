using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Tests.State;

/// <summary>
/// A live save runs passes while the guest writes on; the final pass, taken with the writers paused,
/// makes the state restore to exactly the image of that moment.
/// </summary>
public sealed class LiveSaveTests
{
    [Fact]
    public void ALiveSaveWithAConcurrentWriterRestoresTheImageOfTheFinalPause()
    {
        using var host = new StateTestHost();
        VirtualMachine source = host.MixedVm("source", seed: 1);
        var stream = new MemoryStream();
        byte[] paused;
        SavedStateSummary summary;
        host.Gmm.Fusion.Start(new GuestMemory.Fusion.FusionOptions { PassInterval = TimeSpan.Zero, CpuFraction = 1 }); // merges and arms pages meanwhile
        using (var writer = new GuestWriter(source, pages: 200, seed: 5))
        {
            writer.WaitForWrites(500);
            using LiveStateSave save = source.BeginLiveSave(stream);
            for (int pass = 0; pass < 3; pass++)
            {
                writer.WaitForWrites(200);
                Assert.InRange(save.RunPass(), 1, 200); // some pages were written since the pass before, and only pages the writer reaches
            }
            writer.Pause();
            summary = save.Complete();
            paused = VmSnapshot.Content(source);
        }
        host.Gmm.Fusion.Stop();
        Assert.Equal(5, summary.Passes);

        // Into a fresh VM on another host: shared contents come back private there, and later passes overwrite earlier pages.
        using var other = new StateTestHost();
        VirtualMachine copy = other.Gmm.RestoreVm(StateTestHost.Options("copy"), new ForwardOnlyStream(stream.ToArray()), StateTestHost.RegisterDevices);
        Assert.Equal(paused, VmSnapshot.Content(copy));
        // And over the source itself, on its own host, after the guest ran on.
        StateTestHost.Restore(source, stream.ToArray());
        Assert.Equal(paused, VmSnapshot.Content(source));
        host.Gmm.Verify();
        other.Gmm.Verify();
    }

    [Fact]
    public void AnIdleVmSendsNothingAfterTheFirstPass()
    {
        using var host = new StateTestHost();
        VirtualMachine source = host.MixedVm("source", seed: 2);
        byte[] paused = VmSnapshot.Content(source);
        var stream = new MemoryStream();

        using (LiveStateSave save = source.BeginLiveSave(stream))
        {
            Assert.Equal(0, save.RunPass());
            save.Complete();
            Assert.Equal(0, save.PagesSentLastPass); // shadow ROM writes are tracked like RAM writes: nothing changed
        }

        VirtualMachine copy = host.NewVm("copy");
        StateTestHost.Restore(copy, stream.ToArray());
        Assert.Equal(paused, VmSnapshot.Content(copy));
        host.Gmm.Verify();
    }

    [Fact]
    public void BalloonResetAndMappedWritesBetweenPassesAreSaved()
    {
        using var host = new StateTestHost();
        VirtualMachine source = host.MixedVm("source", seed: 3);
        var stream = new MemoryStream();
        using (LiveStateSave save = source.BeginLiveSave(stream))
        {
            // None of these leaves the DIRTY flag behind the way a plain write does.
            source.Memory.InflateBalloon([GuestContent.Address(0), GuestContent.Address(1)]);
            source.Memory.DeflateBalloon([GuestContent.Address(GuestContent.BalloonFirst)]);
            source.Memory.Write(StateTestHost.ShadowRomAt, StateTestHost.Bytes(64, seed: 9));
            using (WriteMapping mapping = source.Memory.MapForWrite(GuestContent.Address(5)))
            {
                save.RunPass();
                mapping.Span.Fill(0x5A); // written through the mapping after the pass read it
                save.Complete();
            }
        }
        string kinds = VmSnapshot.Kinds(source);
        byte[] content = VmSnapshot.Content(source);

        VirtualMachine copy = host.NewVm("copy");
        StateTestHost.Restore(copy, stream.ToArray());

        Assert.Equal(content, VmSnapshot.Content(copy));
        Assert.Equal(kinds, VmSnapshot.Kinds(copy).Remove(GuestContent.ZeroWrittenFirst, GuestContent.ZeroWrittenPages).Insert(GuestContent.ZeroWrittenFirst, kinds.Substring(GuestContent.ZeroWrittenFirst, GuestContent.ZeroWrittenPages)));
        Assert.Equal(GuestContent.BalloonPages - 1 + 2, copy.Accounts.BalloonedPages);
        host.Gmm.Verify();
    }

    [Fact]
    public void ARestoreDuringALiveSaveIsSentInFull()
    {
        using var host = new StateTestHost();
        (VirtualMachine other, byte[] state) = host.SavedMixedVm("other", seed: 6);
        VirtualMachine source = host.MixedVm("source", seed: 5);
        var stream = new MemoryStream();
        using (LiveStateSave save = source.BeginLiveSave(stream))
        {
            StateTestHost.Restore(source, state);
            Assert.Equal(StateTestHost.RamPages + 4, save.RunPass());
            save.Complete();
        }

        VirtualMachine copy = host.NewVm("copy");
        StateTestHost.Restore(copy, stream.ToArray());
        Assert.Equal(VmSnapshot.Content(other), VmSnapshot.Content(copy));
        host.Gmm.Verify();
    }

    [Fact]
    public void OneLiveSaveAtATimeAndTheConvenienceCallPausesOnce()
    {
        using var host = new StateTestHost();
        VirtualMachine source = host.MixedVm("source", seed: 4);
        using (source.BeginLiveSave(new MemoryStream()))
            Assert.Throws<InvalidOperationException>(() => source.BeginLiveSave(new MemoryStream()));

        int pauses = 0;
        var stream = new MemoryStream();
        SavedStateSummary summary = source.SaveStateLive(stream, () => pauses++, new LiveSaveOptions { StopBelowPages = 0, MaxPasses = 4 });

        Assert.Equal(1, pauses);
        Assert.Equal(3, summary.Passes); // the second pass sent nothing, which is below any threshold
        VirtualMachine copy = host.NewVm("copy");
        StateTestHost.Restore(copy, stream.ToArray());
        Assert.Equal(VmSnapshot.Content(source), VmSnapshot.Content(copy));
        host.Gmm.Verify();
    }

    /// <summary>
    /// A vCPU stand-in: writes whole pages and single words to the first <c>pages</c> pages (which include
    /// shared, zero-written and ballooned-adjacent pages) until paused.
    /// </summary>
    private sealed class GuestWriter : IDisposable
    {
        private readonly VirtualMachine _vm;
        private readonly int _pages;
        private readonly Random _random;
        private readonly Thread _thread;
        private readonly ManualResetEventSlim _paused = new(false);
        private volatile bool _pause;
        private long _writes;
        private Exception? _failure;

        public GuestWriter(VirtualMachine vm, int pages, int seed)
        {
            _vm = vm;
            _pages = pages;
            _random = new Random(seed);
            _thread = new Thread(Run) { IsBackground = true, Name = "guest-writer" };
            _thread.Start();
        }

        /// <summary>Waits until the writer made <paramref name="count"/> more writes (no timing: counts).</summary>
        public void WaitForWrites(long count)
        {
            long target = Interlocked.Read(ref _writes) + count;
            while (Interlocked.Read(ref _writes) < target && !_paused.IsSet) Thread.Yield();
        }

        /// <summary>Stops the writer; returns once it has made its last write, or rethrows what stopped it.</summary>
        public void Pause()
        {
            _pause = true;
            _paused.Wait();
            if (_failure != null) throw new InvalidOperationException("the guest writer failed", _failure);
        }

        public void Dispose()
        {
            Pause();
            _thread.Join();
        }

        private void Run()
        {
            try
            {
                WriteUntilPaused();
            }
            catch (Exception e)
            {
                _failure = e;
            }
            finally
            {
                _paused.Set();
            }
        }

        private void WriteUntilPaused()
        {
            byte[] page = new byte[Paging.PageSize];
            while (!_pause)
            {
                int p = _random.Next(_pages);
                if (p >= GuestContent.BalloonFirst && p < GuestContent.BalloonFirst + GuestContent.BalloonPages) continue;
                if (_random.Next(2) == 0)
                {
                    _random.NextBytes(page);
                    _vm.Memory.Write(GuestContent.Address(p), page);
                }
                else
                {
                    _vm.Memory.WriteUInt64(GuestContent.Address(p) + (ulong)_random.Next(Paging.PageSize / 8) * 8, (ulong)_random.NextInt64());
                }
                Interlocked.Increment(ref _writes);
            }
        }
    }
}
