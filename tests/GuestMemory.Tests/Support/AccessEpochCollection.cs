namespace GuestMemory.Tests.Support;

/// <summary>
/// Tests that hold an access section open on purpose. The access epoch is process-wide, so while such a
/// section is open every other test's wait for readers (reset, balloon, fusion, compaction) stalls: they
/// run alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AccessEpochCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "process-wide access epoch";
}
