using GuestMemory.Migration;
using GuestMemory.Tests.Migration;
using GuestMemory.Tests.State;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// A migration target given the frames of a real move in the wrong order, with frames dropped, repeated,
/// moved, cut short or added (every frame renumbered and re-checksummed, so only the session's own rules
/// can catch it) either receives exactly the moved VM or refuses with a typed error and keeps nothing.
/// Before the session became an explicit state machine, HELLO, one PAGE frame and RESUME gave a VM whose
/// pages were never committed, and <see cref="GlobalMemoryManager.Verify"/> failed.
/// </summary>
public sealed class FrameOrderFuzzTests
{
    private const int Sequences = 1500;

    [Fact]
    public void Resume_right_after_a_page_frame_is_refused_and_leaves_nothing()
    {
        RecordedMove move = RecordedMove.Capture(seed: 1);
        (uint Tag, byte[] Payload) resume = move.Frames.Single(f => f.Tag == (uint)MessageType.Resume);
        (uint Tag, byte[] Payload) firstPages = move.Frames.First(f => f.Tag == (uint)MessageType.Pages);

        Outcome outcome = Replay(move, [move.Frames[0], firstPages, resume]);

        Assert.Equal(GmmError.MigrationStreamCorrupt, outcome.Error);
    }

    [Fact]
    public void Mutated_frame_orders_give_the_moved_vm_exactly_or_a_typed_refusal_that_keeps_nothing()
    {
        RecordedMove move = RecordedMove.Capture(seed: 2);
        Assert.Null(Replay(move, move.Frames).Error); // the recording itself is a good move
        var random = new Random(14);
        var outcomes = new Dictionary<string, int>();
        for (int i = 0; i < Sequences; i++)
        {
            (string what, List<(uint, byte[])> frames) = Mutate(move.Frames, random);
            Outcome outcome = Replay(move, frames, what);
            string key = outcome.Error?.ToString() ?? "received";
            outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
        }
        TestContext.Current.SendDiagnosticMessage($"{Sequences} mutated sequences of {move.Frames.Count} frames: " +
            string.Join(", ", outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Key} {o.Value}")));
        Assert.True(outcomes.GetValueOrDefault(nameof(GmmError.MigrationStreamCorrupt)) > Sequences / 4, "too few sequences reached the session's rules");
    }

    /// <summary>The error a replay was refused with, or null when the target received the VM.</summary>
    private readonly record struct Outcome(GmmError? Error);

    /// <summary>Feeds the frames to a fresh target; checks the VM it made byte for byte, or that a refusal left nothing.</summary>
    private static Outcome Replay(RecordedMove move, IEnumerable<(uint Tag, byte[] Payload)> frames, string what = "the recording")
    {
        using var host = new StateTestHost();
        GmmStatisticsBaseline baseline = GmmStatisticsBaseline.Of(host.Gmm);
        byte[] bytes = RecordedMove.Rebuild(frames);
        try
        {
            ReceivedVm received = host.Gmm.ReceiveVm(new ReplayStream(bytes), MigrationHosts.TargetOptions);
            Assert.True(move.Content.AsSpan().SequenceEqual(VmSnapshot.Content(received.Vm)), $"{what}: the target resumed a VM whose memory differs from the source's");
            host.Gmm.Verify();
            return new Outcome(null);
        }
        catch (GmmException e)
        {
            Assert.True(host.Gmm.Vms.Count == 0, $"{what}: refused with {e.Error} but left {host.Gmm.Vms.Count} VM(s)");
            host.Gmm.Verify();
            baseline.AssertSame(host.Gmm, what);
            return new Outcome(e.Error);
        }
    }

    /// <summary>One or two random changes to the frame list (HELLO stays first mostly: it is checked on its own elsewhere).</summary>
    private static (string What, List<(uint, byte[])> Frames) Mutate(IReadOnlyList<(uint Tag, byte[] Payload)> original, Random random)
    {
        var frames = original.ToList();
        var done = new List<string>();
        int changes = random.Next(4) == 0 ? 2 : 1;
        for (int c = 0; c < changes && frames.Count > 1; c++)
        {
            int i = random.Next(1, frames.Count), j = random.Next(1, frames.Count);
            switch (random.Next(6))
            {
                case 0:
                    done.Add($"drop {Name(frames[i])}@{i}");
                    frames.RemoveAt(i);
                    break;
                case 1:
                    done.Add($"repeat {Name(frames[i])}@{i} at {j}");
                    frames.Insert(j, frames[i]);
                    break;
                case 2:
                    done.Add($"swap {Name(frames[i])}@{i} and {Name(frames[j])}@{j}");
                    (frames[i], frames[j]) = (frames[j], frames[i]);
                    break;
                case 3:
                {
                    var frame = frames[i];
                    frames.RemoveAt(i);
                    j = Math.Min(j, frames.Count);
                    frames.Insert(j, frame);
                    done.Add($"move {Name(frame)}@{i} to {j}");
                    break;
                }
                case 4:
                {
                    // A control frame of the recording (or an empty one of any kind) where it does not belong.
                    MessageType[] kinds = [MessageType.Resume, MessageType.Commit, MessageType.Stop, MessageType.PassEnd, MessageType.Bye, MessageType.Hello, MessageType.HashAnswer];
                    MessageType kind = kinds[random.Next(kinds.Length)];
                    (uint, byte[]) frame = original.FirstOrDefault(f => f.Tag == (uint)kind, ((uint)kind, []));
                    frames.Insert(j, frame);
                    done.Add($"insert {kind} at {j}");
                    break;
                }
                default:
                    done.Add($"cut after {i} frames");
                    frames.RemoveRange(i, frames.Count - i);
                    break;
            }
        }
        return (string.Join("; ", done), frames);
    }

    private static string Name((uint Tag, byte[] Payload) frame) => ((MessageType)frame.Tag).ToString();

    /// <summary>The host's figures before a replay: a refused one must leave them exactly so.</summary>
    private sealed record GmmStatisticsBaseline(long Allocated, long Reserved, int Vms)
    {
        public static GmmStatisticsBaseline Of(GlobalMemoryManager gmm)
        {
            var s = gmm.Statistics;
            return new(s.AllocatedPages, s.ReservedPages, s.Vms);
        }

        public void AssertSame(GlobalMemoryManager gmm, string what) => Assert.True(Of(gmm) == this, $"{what}: the host kept {Of(gmm)} against {this}");
    }
}
