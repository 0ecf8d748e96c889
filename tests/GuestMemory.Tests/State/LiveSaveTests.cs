using GuestMemory.Phys;
using GuestMemory.State;
using GuestMemory.Tests.Support;

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
}
