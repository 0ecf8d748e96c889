using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using GuestMemory.Simulation;
using GuestMemory.Gmm;
using GuestMemory.Migration;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Cli.Demo;

/// <summary>A VM saved to a file and started from it on the second host: file size against guest RAM, timings, or why it failed.</summary>
internal sealed record DemoSavedState(string Vm, long GuestBytes, long FileBytes, double SaveSeconds, double RestoreSeconds, string? Failure, int ContentErrors);

/// <summary>A live move of one VM to the second host: the source's report, or why it failed, and the check of the copy.</summary>
internal sealed record DemoMove(string Vm, MoveReport? Report, string? Failure, int ContentErrors);

/// <summary>
/// The demo's last act, on whole VMs and a second GuestMemory host in this process: one VM is saved to a
/// file and a copy started from it on the second host; another moves there live, its guest writing, over
/// a real TCP connection on loopback (the OS image the copy already holds crosses as content references).
/// Both copies are checked page by page against what their guest last wrote.
/// </summary>
internal sealed class DemoMobility(long hostBytes, Action<VirtualMachine> registerRanges, ILoggerFactory logging) : IDisposable
{
    private readonly GlobalMemoryManager _target = new(new GmmOptions { HostMemoryLimit = hostBytes, OvercommitRatio = 4 }, logging);

    /// <summary>Problems the second host's consistency check finds (none when all is well).</summary>
    public IReadOnlyList<string> FindInconsistencies() => _target.FindInconsistencies();

    /// <summary>Saves the guest's VM (its guest stopped) atomically to a file in <paramref name="directory"/> and starts a copy from it on the second host.</summary>
    public DemoSavedState SaveAndRestore(SimulatedGuest guest, long guestBytes, string directory)
    {
        string path = Path.Combine(directory, $"gmm-demo-{guest.Vm.Name}-{Environment.ProcessId}.state");
        try
        {
            var clock = Stopwatch.StartNew();
            guest.Vm.SaveState(path);
            double save = clock.Elapsed.TotalSeconds;
            long fileBytes = new FileInfo(path).Length;
            clock.Restart();
            VirtualMachine copy = _target.RestoreVm(guest.Vm.Options with { Name = $"{guest.Vm.Name}-copy" }, path, registerRanges);
            double restore = clock.Elapsed.TotalSeconds;
            return new DemoSavedState(guest.Vm.Name, guestBytes, fileBytes, save, restore, null, guest.VerifyContent(copy.Memory).Count);
        }
        catch (GmmException e)
        {
            return new DemoSavedState(guest.Vm.Name, guestBytes, 0, 0, 0, e.Message, guest.VerifyContent().Count);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Moves the guest's VM to the second host over loopback TCP while the guest runs; the guest is paused
    /// for the final pass. Afterwards the guest is stopped, and after a successful move its VM is gone here.
    /// </summary>
    public DemoMove MoveLive(SimulatedGuest guest)
    {
        using var endpoint = new MigrationEndpoint(IPAddress.Loopback, 0);
        Task<ReceivedVm> receiving = Task.Run(() =>
        {
            using NetworkStream connection = endpoint.Accept();
            return _target.ReceiveVm(connection, new IncomingOptions { RegisterRanges = registerRanges });
        });
        string name = guest.Vm.Name;
        guest.Start();
        try
        {
            MoveReport report = guest.Vm.MoveTo(IPAddress.Loopback.ToString(), endpoint.Port, guest.Stop, guest.Start);
            guest.Stop();
            ReceivedVm received = receiving.GetAwaiter().GetResult();
            return new DemoMove(name, report, null, guest.VerifyContent(received.Vm.Memory).Count);
        }
        catch (GmmException e)
        {
            guest.Stop();
            try { receiving.GetAwaiter().GetResult(); }
            catch (GmmException) { } // the target reports the same failure from its side; it kept nothing
            return new DemoMove(name, null, e.Message, guest.VerifyContent().Count);
        }
    }

    public void Dispose() => _target.Dispose();
}
