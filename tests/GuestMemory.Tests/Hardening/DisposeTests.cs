using System.Collections.Concurrent;
using GuestMemory.Phys;
using GuestMemory.Tests.Phys;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// A disposed manager leaves every VM, accessor and mapping failing with a typed error, never touching
/// unmapped memory. Before, Dispose skipped a VM that still had a mapped page and unmapped the host
/// memory its fast path pointed into: the next guest read killed the process (SIGSEGV, exit 134).
/// </summary>
public sealed class DisposeTests
{
    [Fact]
    public void A_vm_used_after_its_manager_is_disposed_fails_typed_even_with_a_mapping_held()
    {
        GlobalMemoryManager gmm = TestVms.CreateManager();
        VirtualMachine vm = gmm.AddVm(64);
        vm.Memory.Write(0, TestVms.Bytes(Paging.PageSize, 1));
        ReadMapping mapping = vm.Memory.MapForRead(0);

        gmm.Dispose();

        Assert.True(vm.IsDestroyed);
        TestVms.Fails(GmmError.VmDestroyed, () => vm.Memory.ReadUInt64(0));
        TestVms.Fails(GmmError.VmDestroyed, () => vm.Memory.WriteUInt64(0, 1));
        TestVms.Fails(GmmError.VmDestroyed, () => vm.Memory.Read(0, new byte[16]));
        TestVms.Fails(GmmError.VmDestroyed, () => vm.Memory.Write(8, new byte[16]));
        TestVms.Fails(GmmError.VmDestroyed, () => vm.Memory.MapForWrite(0).Dispose());
        TestVms.Fails(GmmError.VmDestroyed, () => vm.Memory.OpenAccessor().Dispose());
        TestVms.Fails(GmmError.VmDestroyed, () => _ = vm.Accounts);
        TestVms.Fails(GmmError.VmDestroyed, () => vm.Balloon.SetTarget(0));
        TestVms.Fails(GmmError.VmDestroyed, () => vm.SaveState(new MemoryStream()));
        Assert.Throws<ObjectDisposedException>(() => gmm.CreateVm(new VmOptions { Name = "late", RamSize = 1 << 20 }));
        Assert.True(gmm.Pages.Host.IsMapped, "the host range stays mapped while a mapping's span may still be read");
        _ = mapping.Span[0]; // readable memory, whatever it holds now

        mapping.Dispose();

        Assert.False(gmm.Pages.Host.IsMapped);
        vm.Dispose();   // destroyed already: nothing to do
        gmm.Dispose();  // disposed already: nothing to do
    }

    [Fact]
    public void An_accessor_opened_before_the_manager_is_disposed_fails_typed_after()
    {
        GlobalMemoryManager gmm = TestVms.CreateManager();
        VirtualMachine vm = gmm.AddVm(64);
        vm.Memory.WriteUInt64(0x1000, 42);
        GuestMemoryAccessor accessor = vm.Memory.OpenAccessor();
        Assert.Equal(42UL, accessor.ReadUInt64(0x1000));

        gmm.Dispose();

        GmmException e = Assert.Throws<GmmException>(() => { var a = vm.Memory.OpenAccessor(); a.Dispose(); });
        Assert.Equal(GmmError.VmDestroyed, e.Error);
        Assert.Equal(GmmError.VmDestroyed, Catch(() => vm.Memory.ReadUInt64(0x1000)));
        ulong read = 0;
        GmmError? readError = null, writeError = null;
        try { read = accessor.ReadUInt64(0x1000); } catch (GmmException x) { readError = x.Error; }
        try { accessor.WriteUInt64(0x1000, 7); } catch (GmmException x) { writeError = x.Error; }
        accessor.Dispose();
        Assert.Equal((GmmError.VmDestroyed, GmmError.VmDestroyed, 0UL), (readError, writeError, read));
    }

    /// <summary>
    /// vCPU threads (accessors, plain reads and writes, mappings), a balloon thread and a saver race the
    /// manager's Dispose: every failure is typed, no process crash, no hang.
    /// </summary>
    [Fact]
    public void Dispose_racing_every_kind_of_use_leaves_only_typed_errors()
    {
        var untyped = new ConcurrentQueue<Exception>();
        long operations = 0;
        for (int round = 0; round < 12; round++)
        {
            GlobalMemoryManager gmm = TestVms.CreateManager(hostMib: 16);
            VirtualMachine[] vms = [gmm.AddVm(256, "a"), gmm.AddVm(256, "b")];
            using var stop = new CancellationTokenSource();
            Action Use(int seed) => () =>
            {
                var random = new Random(seed);
                VirtualMachine vm = vms[seed % vms.Length];
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        ulong address = (ulong)random.Next(256) * Paging.PageSize;
                        switch (random.Next(6))
                        {
                            case 0:
                            {
                                GuestMemoryAccessor a = vm.Memory.OpenAccessor();
                                try { for (int i = 0; i < 100; i++) a.WriteUInt64(address + (ulong)(i * 8), (ulong)i); }
                                finally { a.Dispose(); }
                                break;
                            }
                            case 1: vm.Memory.Write(address, new byte[Paging.PageSize]); break;
                            case 2: vm.Memory.ReadUInt64(address); break;
                            case 3:
                            {
                                using WriteMapping m = vm.Memory.MapForWrite(address);
                                m.Span[random.Next(Paging.PageSize)] = 1;
                                break;
                            }
                            case 4: vm.Balloon.SetTarget(random.Next(32)); break;
                            case 5: vm.SaveState(Stream.Null); break;
                        }
                        Interlocked.Increment(ref operations);
                    }
                    catch (GmmException) { }
                    catch (ObjectDisposedException) { }
                    catch (Exception e) { untyped.Enqueue(e); }
                }
            };
            Action disposer = () =>
            {
                Thread.Sleep(20 + round * 3);
                gmm.Dispose();
                Thread.Sleep(5);
                stop.Cancel();
            };

            Watchdog.Run(TimeSpan.FromSeconds(60), Use(0), Use(1), Use(2), Use(3), disposer);

            Assert.True(vms.All(v => v.IsDestroyed));
        }
        Assert.Empty(untyped);
        Assert.True(operations > 100, $"{operations} operations: the race was not exercised");
    }

    private static GmmError? Catch(Action action)
    {
        try { action(); }
        catch (GmmException e) { return e.Error; }
        return null;
    }
}
