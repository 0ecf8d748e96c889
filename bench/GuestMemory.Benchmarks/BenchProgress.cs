namespace GuestMemory.Benchmarks;

/// <summary>Where a whole-system benchmark is: a step's name and how far it got (units the step chooses).</summary>
public readonly record struct BenchProgress(string Step, long Done, long Total);
