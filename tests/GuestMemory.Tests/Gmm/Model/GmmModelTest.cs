using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm.Model;

/// <summary>
/// A <see cref="PageManager"/> on real host memory driven side by side with <see cref="GmmReferenceModel"/>.
/// Each operation's outcome must be one the model allows; a failure must change nothing observable; after
/// each operation the global and per-VM figures must match the model; <see cref="Check"/> also runs
/// <c>Verify()</c> and compares every live page's owner, frame, references and memory contents.
/// </summary>
internal sealed partial class GmmModelTest : IModelTest<GmmOp>
{
    private readonly PageManager _gmm;
    private readonly GmmReferenceModel _model;
    private readonly VmHandle[] _lastHandles = new VmHandle[GmmOperationGenerator.VmSlots];
    private readonly Dictionary<(string Call, string Outcome), int> _outcomes = [];
    private long _nextTag = 1;
    private int _vmsCreated;

    public GmmModelTest(int hostMib, int spareChunks, double overcommitRatio)
    {
        _gmm = new PageManager(new GmmOptions { HostMemoryLimit = hostMib * TestGmm.Mib, SpareEmptyChunks = spareChunks, OvercommitRatio = overcommitRatio });
        _model = new GmmReferenceModel(_gmm.MaxPages, overcommitRatio, spareChunks);
        for (int slot = 0; slot < GmmOperationGenerator.VmSlots; slot++)
            Create(new CreateVmOp(slot, new AccountPages(3000, 200, 50), OvercommitPolicy.Overcommit, VmPriority.Normal));
    }

    /// <summary>How often each call ended in each outcome ("ok" or an error), over the whole run.</summary>
    public IReadOnlyDictionary<(string Call, string Outcome), int> Outcomes => _outcomes;

    public void Apply(GmmOp op)
    {
        if (op is CreateVmOp create)
        {
            Create(create);
        }
        else if (_model.Vms[op.Vm] is not { } vm)
        {
            ApplyToMissingVm(op);
        }
        else
        {
            switch (op)
            {
                case AllocateOp o: Allocate(o, vm); break;
                case HandyOp o: Handy(o, vm); break;
                case FreeOp o: Free(o, vm); break;
                case AllocateSharedOp o: AllocateShared(o, vm); break;
                case AddReferenceOp o: AddReference(o, vm); break;
                case BalloonOp o: Balloon(o, vm); break;
                case DeflateOp o: Deflate(o, vm); break;
                case RequestBalloonOp o: RequestBalloon(o, vm); break;
                case ResetBalloonOp: ResetBalloon(vm); break;
                case UpdateReservationOp o: UpdateReservation(o, vm); break;
                case DestroyVmOp o: Destroy(o.Vm); break;
                case SetPriorityOp o: SetPriority(o, vm); break;
                case MapChunkOp o: MapChunk(o, vm); break;
                default: throw new ArgumentOutOfRangeException(nameof(op), op, "unknown operation");
            }
        }
        CompareFigures();
    }

    public void Dispose() => _gmm.Dispose();

    /// <summary>
    /// Runs one call and checks its outcome against the model. Returns null when it succeeded, else its error;
    /// a failure must leave every observable figure and the <paramref name="watched"/> pages as they were.
    /// </summary>
    private GmmError? Attempt(string name, Expected expected, Action call, IEnumerable<PageId>? watched = null, bool hostRefuses = false)
    {
        PageId[] pages = watched?.ToArray() ?? [];
        GmmSnapshot before = GmmSnapshot.Take(_gmm, pages);
        if (hostRefuses) _gmm.Host.InjectCommitFailure = _ => true;
        try
        {
            call();
        }
        catch (GmmException e)
        {
            if (!expected.Errors.Contains(e.Error)) Assert.Fail($"{name} failed with {e.Message}; the model expected {expected}");
            GmmSnapshot.Take(_gmm, pages).AssertSameAs(before);
            Count(name, e.Error.ToString());
            return e.Error;
        }
        finally
        {
            _gmm.Host.InjectCommitFailure = null;
        }
        if (!expected.MaySucceed) Assert.Fail($"{name} succeeded; the model expected {expected}");
        Count(name, "ok");
        return null;
    }

    private void Count(string name, string outcome) =>
        _outcomes[(name, outcome)] = _outcomes.GetValueOrDefault((name, outcome)) + 1;

    private static string NameOf(int slot) => $"slot-{slot}";

    private long NextTag() => _nextTag++;

    /// <summary>A handle that names no live VM: the slot's last handle if no one reuses it, else NIL.</summary>
    private VmHandle GoneHandle(int slot) =>
        _model.Vms.Any(v => v?.Handle == _lastHandles[slot]) ? VmHandle.Nil : _lastHandles[slot];

    /// <summary>Page ids that name no page of a live chunk, whatever the state.</summary>
    private PageId UnknownPage(Random pick) => pick.Next(3) switch
    {
        0 => PageId.Nil,
        1 => PageId.From(_gmm.Host.MaxChunks + 1 + pick.Next(100), pick.Next(Paging.PagesPerChunk)),
        _ => new PageId(uint.MaxValue),
    };
}
