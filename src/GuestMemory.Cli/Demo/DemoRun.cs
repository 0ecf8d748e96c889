using System.Diagnostics;
using GuestMemory.Balloon;
using GuestMemory.Simulation;
using GuestMemory.Compaction;
using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.Host;

namespace GuestMemory.Cli.Demo;

/// <summary>
/// The demo scenario: several VMs promised more memory than the host budget, each holding the same OS
/// image (real runtime files), its own data written by a guest workload that comes and goes, and zero
/// pages. Page fusion, ballooning under the budget, a VM shutdown and compaction all run on real memory
/// while samples are taken for the live view and the report, and what happens when (the shutdown, the
/// compaction, the save, the move) is recorded as <see cref="Events"/> to mark in the plots.
/// </summary>
internal sealed class DemoRun : IDisposable
{
    /// <summary>Guest-physical address of the OS image range, above the VM's RAM.</summary>
    public const ulong ImageAddress = 1UL << 32;

    private readonly DemoSettings _settings;
    private readonly List<SimulatedGuest> _guests = [];
    private readonly Stopwatch _clock = new();
    private readonly Microsoft.Extensions.Logging.ILoggerFactory _loggerFactory;
    private readonly Lock _samplesLock = new();

    /// <summary>Measures the process's baseline and creates the manager; <see cref="Boot"/> then starts the VMs.</summary>
    public DemoRun(DemoSettings settings, OsImage image, Microsoft.Extensions.Logging.ILoggerFactory loggerFactory)
    {
        _settings = settings;
        _loggerFactory = loggerFactory;
        Image = image;
        BaselineRss = HostRss.ReadCounterBytes();
        Manager = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = settings.GuestPagesLimitBytes, OvercommitRatio = 4 }, loggerFactory);
        Controller = new BalloonController(Manager, new BalloonControllerOptions { HostBudgetBytes = BaselineRss + settings.BudgetBytes });
    }

    /// <summary>Creates the VMs, boots their guests and loads the OS image into each, telling <paramref name="step"/> which VM it is at.</summary>
    public void Boot(Action<string> step)
    {
        for (int i = 0; i < _settings.Vms; i++)
        {
            step($"starting vm-{i + 1} of {_settings.Vms}: booting its guest, loading its {Image.Bytes.Length >> 20} MiB OS image");
            AddVm(i);
        }
    }

    public GlobalMemoryManager Manager { get; }
    public BalloonController Controller { get; }
    /// <summary>What happened when: shutdown, compaction, save, move (for the plots' markers).</summary>
    public List<DemoEvent> Events { get; } = [];
    public OsImage Image { get; }
    public long BaselineRss { get; }
    /// <summary>The samples so far (a copy: a sampler may be adding to them).</summary>
    public IReadOnlyList<DemoSample> Samples { get { lock (_samplesLock) return [.. _samples]; } }
    private readonly List<DemoSample> _samples = [];
    public IReadOnlyList<ChunkPicture>? ChunksBeforeShutdown { get; private set; }
    public IReadOnlyList<ChunkPicture>? ChunksAfterShutdown { get; private set; }
    public CompactionResult? Compaction { get; private set; }
    /// <summary>Chunks the shutdown and the compaction after it gave back to the host.</summary>
    public int ChunksReturnedAtShutdown { get; private set; }
    public string? ShutDownVm { get; private set; }
    public IReadOnlyDictionary<VmHandle, string> VmNames { get; private set; } = new Dictionary<VmHandle, string>();
    public IReadOnlyList<SimulatedGuest> Guests => _guests;
    public double Elapsed => _clock.Elapsed.TotalSeconds;
    /// <summary>When the guests' run ended (the save and the move come after it).</summary>
    public double RunSeconds { get; private set; }
    public DemoSavedState? SavedState { get; private set; }
    /// <summary>Guests whose VM moved to the second host (stopped; kept to check the copy).</summary>
    public List<SimulatedGuest> MovedGuests { get; } = [];
    private DemoMobility? _secondHost;
    public DemoMove? Move { get; private set; }

    /// <summary>Runs the scenario, calling <paramref name="onSample"/> about four times a second.</summary>
    public void Run(Action<DemoSample> onSample, CancellationToken cancel)
    {
        VmNames = Manager.Vms.ToDictionary(v => v.Handle, v => v.Name);
        _clock.Start();
        Manager.Fusion.Start(new FusionOptions { CpuFraction = 0.5, PassInterval = TimeSpan.FromMilliseconds(200), IdlePriority = false });
        Controller.Start();
        foreach (SimulatedGuest guest in _guests) guest.Start();
        bool shutDown = false;
        while (Elapsed < _settings.Seconds && !cancel.IsCancellationRequested)
        {
            if (!shutDown && Elapsed >= _settings.Seconds * DemoSettings.ShutdownAt && _guests.Count > 1)
            {
                ShutDownOneVm();
                shutDown = true;
            }
            DemoSample sample = Sample();
            onSample(sample);
            cancel.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(250));
        }
        foreach (SimulatedGuest guest in _guests) guest.Stop();
        Controller.Stop();
        Manager.Fusion.Stop();
        onSample(Sample());
        RunSeconds = Elapsed;
    }

    /// <summary>
    /// After the run, with a second host (<see cref="DemoMobility"/>): the first VM is saved to a file in
    /// <paramref name="directory"/> and a copy started from it there; the last one (when there are two or
    /// more) moves there live. The moved VM leaves this host, so its guest leaves the run.
    /// </summary>
    public void SaveRestoreAndMove(string directory)
    {
        using var sampler = new Timer(_ => Sample(), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(250)); // the plots go on through the save and the move
        _secondHost = new DemoMobility(_settings.GuestPagesLimitBytes,
            vm => vm.Memory.RegisterRam(ImageAddress, (ulong)Image.Bytes.Length, "os-image"), _loggerFactory);
        AddEvent($"second host: {_guests[0].Vm.Name} saved, copy started");
        SavedState = _secondHost.SaveAndRestore(_guests[0], _settings.RamBytes + Image.Bytes.Length, directory);
        if (_guests.Count < 2) return;
        SimulatedGuest moving = _guests[^1];
        AddEvent($"{moving.Vm.Name} moves there");
        Move = _secondHost.MoveLive(moving);
        if (Move.Report == null) return; // a failed move leaves the VM running here
        lock (_samplesLock)
        {
            _guests.Remove(moving);
            MovedGuests.Add(moving);
        }
    }

    /// <summary>Problems the consistency checks of both hosts find.</summary>
    public IReadOnlyList<string> FindInconsistencies() => [.. Manager.FindInconsistencies(), .. _secondHost?.FindInconsistencies() ?? []];

    private DemoSample Sample()
    {
        lock (_samplesLock)
        {
            long used = _guests.Where(g => !g.Vm.IsDestroyed).Sum(g => g.Status.UsedPages) * Paging.PageSize + (long)_guests.Count * Image.Bytes.Length;
            DemoSample sample = DemoSample.Take(Elapsed, Manager, BaselineRss, _settings.PromisedBytes, _settings.BudgetBytes, used);
            _samples.Add(sample);
            return sample;
        }
    }

    private void AddEvent(string label)
    {
        lock (_samplesLock) Events.Add(new DemoEvent(Elapsed, label));
    }

    /// <summary>The last VM's guest stops and the VM is destroyed; compaction then gives its chunks back.</summary>
    private void ShutDownOneVm()
    {
        ChunksBeforeShutdown = Manager.Pages.GetChunkMap();
        long freedBefore = Manager.Statistics.FreedChunks;
        SimulatedGuest guest = _guests[^1];
        AddEvent($"{guest.Vm.Name} shuts down");
        lock (_samplesLock) _guests.RemoveAt(_guests.Count - 1);
        guest.Stop();
        guest.Dispose();
        ShutDownVm = guest.Vm.Name;
        Manager.CompactOnVmShutdown = false; // compact explicitly, so the run's figures can be reported
        guest.Vm.Dispose();
        AddEvent("compaction");
        Compaction = Manager.Compactor.Run();
        ChunksAfterShutdown = Manager.Pages.GetChunkMap();
        ChunksReturnedAtShutdown = (int)(Manager.Statistics.FreedChunks - freedBefore);
    }

    private void AddVm(int index)
    {
        var priority = index == 0 ? VmPriority.High : index == _settings.Vms - 1 && _settings.Vms > 2 ? VmPriority.Low : VmPriority.Normal;
        VirtualMachine vm = Manager.CreateVm(new VmOptions
        {
            Name = $"vm-{index + 1}",
            RamSize = _settings.RamBytes,
            Priority = priority,
            MinimumRam = _settings.RamBytes / 4,
        });
        vm.Memory.RegisterRam(ImageAddress, (ulong)Image.Bytes.Length, "os-image");
        long ramPages = _settings.RamBytes >> Paging.PageShift;
        var workload = new ComeAndGoWorkload(_settings.Seed * 100 + index, ramPages / 8, ramPages * 3 / 4, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));
        _guests.Add(new SimulatedGuest(vm, new SimulatedGuestOptions { Seed = _settings.Seed * 100 + index, Workload = workload.PagesAt }));
        vm.Memory.Write(ImageAddress, Image.Bytes); // after the guest booted: its power-on reset clears all RAM
    }

    public void Dispose()
    {
        foreach (SimulatedGuest guest in _guests.Concat(MovedGuests)) guest.Dispose();
        Controller.Dispose();
        _secondHost?.Dispose();
        Manager.Dispose();
    }
}
